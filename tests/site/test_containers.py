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
