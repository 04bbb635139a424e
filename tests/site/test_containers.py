"""The container files run only commands this project has, with options they accept; the image
is built from a context without local state or secrets, as a non-root user, on a pinned base."""

import re
import shlex
from pathlib import Path

import yaml
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parents[2]


def manage_commands() -> list[list[str]]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    commands = []
    for service in compose["services"].values():
        command = service.get("command")
        if command and command.startswith("python manage.py "):
            commands.append(shlex.split(command)[2:])
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if "python manage.py " in line and not line.startswith("RUN"):
            commands.append(shlex.split(line.split("python manage.py ", 1)[1].split("|")[0]))
    return commands


def test_every_container_command_parses():
    commands = manage_commands()
    assert len(commands) >= 6
    available = get_commands()
    for name, *args in commands:
        assert name in available, f"compose/Dockerfile run an unknown command {name!r}"
        parser = load_command_class(available[name], name).create_parser("manage.py", name)
        parser.parse_args(args)  # exits (fails the test) on an unknown option


def test_compose_runs_mongodb_as_a_replica_set_the_services_connect_to():
    """One name for the set everywhere: mongod's --replSet, the member list the healthcheck
    initiates, and the replicaSet of the services' MONGO_URI; the services wait for a primary."""
    from pymongo.uri_parser import parse_uri

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mongo = compose["services"]["mongo"]
    arguments = shlex.split(mongo["command"])
    replica_set = arguments[arguments.index("--replSet") + 1]
    initiate = mongo["healthcheck"]["test"][-1]
    assert f'rs.initiate({{_id: "{replica_set}", members: [{{_id: 0, host: "mongo:27017"}}]}})' in initiate
    assert "isWritablePrimary" in initiate
    # ${MONGO_URI:-default}: .env's MONGO_URI (a managed cluster, with credentials), else this set.
    wired = compose["x-c40"]["environment"]["MONGO_URI"]
    uri = re.fullmatch(r"\$\{MONGO_URI:-(.+)\}", wired).group(1)
    parsed = parse_uri(uri)
    assert parsed["nodelist"] == [("mongo", 27017)]
    assert parsed["options"]["replicaSet"] == replica_set
    for name, service in compose["services"].items():
        if service.get("environment", {}).get("MONGO_URI") == wired:
            assert service["depends_on"]["mongo"] == {"condition": "service_healthy"}, name


# -- the image: build context, user, base, secrets ---------------------------------------------------


def build_context(root: Path) -> set[str]:
    """The files `docker build` would send from ``root``: docker-py's port of Docker's
    .dockerignore matcher (no Docker engine runs here, so the context is tested, not the build)."""
    from docker.utils.build import exclude_paths

    lines = (root / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {path for path in exclude_paths(str(root), patterns) if not (root / path).is_dir()}


# What must never reach an image: state of the embedded stack, secrets, version control, tests.
UNWANTED = (
    ".git/config",
    ".venv/bin/python",
    ".env",
    ".env.production",
    "var/admin-password.txt",
    "var/django.sqlite3",
    "var/litemongo/c40.sqlite3",
    "db.sqlite3",
    "test-artifacts/ops-overview.png",
    ".pytest_cache/v/cache/nodeids",
    ".hypothesis/examples/abc",
    ".schemathesis/default/cache/entries.jsonl",
    "mutants/telemetry_site/api.py",
    "telemetry_site/__pycache__/api.cpython-311.pyc",
    "tests/site/test_containers.py",
)
NEEDED = ("manage.py", "requirements.txt", "telemetry_site/settings.py", "stream/schemas/c40_enriched.avsc")


def test_the_build_context_keeps_state_secrets_and_tests_out(tmp_path):
    (tmp_path / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    for relative in (*UNWANTED, *NEEDED):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    context = build_context(tmp_path)
    assert context == {*NEEDED, ".dockerignore"}


def test_the_repository_build_context_holds_the_code_and_nothing_local():
    context = build_context(ROOT)
    for needed in (*NEEDED, "deploy/gunicorn.conf.py"):  # the image's CMD reads it
        assert needed in context
    assert {"equipment_current", "equipment_history", "equipment_usage", "telemetry_site"} <= {
        path.split("/")[0] for path in context
    }
    top_level = {path.split("/")[0] for path in context if "/" in path}
    assert top_level.isdisjoint({".git", ".venv", "var", "tests", "test-artifacts", "mutants", ".hypothesis"})
    assert not [path for path in context if path.endswith((".sqlite3", ".pyc")) or "/.env" in f"/{path}"]


def test_the_image_runs_as_a_non_root_user_from_a_base_pinned_by_digest():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    base = next(line for line in instructions if line.startswith("ARG PYTHON_IMAGE="))
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}", base), base
    assert "FROM ${PYTHON_IMAGE}" in instructions
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users, "the image runs as root"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0")
    assert instructions.index(f"USER {users[-1]}") > instructions.index("COPY . .")


def test_secrets_come_only_from_the_environment_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert "SECRET_KEY" not in "\n".join(line for line in dockerfile.splitlines() if not line.startswith("#"))
    for name, service in compose["services"].items():
        if service.get("build"):  # this project's image
            assert service.get("env_file") == [".env"], name
            environment = service.get("environment", {})
            assert not {"DJANGO_SECRET_KEY", "KAFKA_OPTIONS", "SCHEMA_REGISTRY_OPTIONS"} & set(environment), name
            # MONGO_URI may carry credentials: from .env, or compose's own server without any.
            default = re.fullmatch(r"\$\{MONGO_URI:-(.+)\}", environment.get("MONGO_URI", "${MONGO_URI:-}"))
            assert default and "@" not in default.group(1), name
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert "DJANGO_SECRET_KEY=" in (ROOT / ".env.example").read_text()
