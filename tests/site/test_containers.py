"""The container files run only commands this project has, with options they accept."""

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
    uri = compose["x-c40"]["environment"]["MONGO_URI"]
    parsed = parse_uri(uri)
    assert parsed["nodelist"] == [("mongo", 27017)]
    assert parsed["options"]["replicaSet"] == replica_set
    for name, service in compose["services"].items():
        if service.get("environment", {}).get("MONGO_URI") == uri:
            assert service["depends_on"]["mongo"] == {"condition": "service_healthy"}, name
