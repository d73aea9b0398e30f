"""The root group registers the `COMMANDS` of every module of `jobspec.cli`: a new module's
commands appear without editing a list, and no module's are lost."""

from __future__ import annotations

import pkgutil
from importlib import import_module

import jobspec.cli
from jobspec.cli import cli


def test_every_module_s_commands_are_registered() -> None:
    declared = {}
    for found in pkgutil.iter_modules(jobspec.cli.__path__):
        if found.name.startswith("_"):
            continue
        module = import_module(f"jobspec.cli.{found.name}")
        for command in getattr(module, "COMMANDS", ()):
            declared[command.name] = found.name
    assert declared == {
        "plan": "plan",
        "show": "plan",
        "apply": "apply",
        "state": "state",
        "unlock": "state",
        "import": "adopt",
        "generate": "adopt",
        "jobs": "jobs",
        "validate": "inspect",
        "fmt": "inspect",
        "schema": "inspect",
        "drift": "inspect",
        "completion": "inspect",
        "emulator": "emulator",
        "version": "version",
    }
    assert set(cli.commands) == set(declared)
