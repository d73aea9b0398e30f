"""Argument parsing and wiring: the one place that prints and chooses exit codes.

The root group `cli` registers the `COMMANDS` of every module in this package: adding a
command is adding a module (or a command to one's `COMMANDS`). Each command resolves its inputs with
`run.server_run` (flags, environment, `jobspec.toml`, specs, the store), calls one sequence
in `jobspec.commands`, and prints what `jobspec.views` makes of the result. Heavy modules
(pydantic models, httpx, ruamel, uvicorn, rich) are imported inside the commands so that
`jobspec --help` starts fast; their types are imported under TYPE_CHECKING, so mypy still
checks every use.

    runtime.py   the scrubber, echo/show, the one error-reporting path, event loop, signals
    options.py   global, server and connection flags; the click classes that carry them
    run.py       server_run: settings → specs → store → API, for every server command
    plan.py      plan, show          apply.py     apply
    state.py     state …, unlock     adopt.py     import, generate
    jobs.py      jobs (and the connection/path filters generate shares)
    inspect.py   validate, fmt, schema, drift, completion
    version.py   version
    emulator.py  emulator
"""

from __future__ import annotations

import gc
import pkgutil
from importlib import import_module

import click

from jobspec import __version__
from jobspec.cli.options import Root, global_options
from jobspec.cli.runtime import SCRUB, SECRET_VARIABLES
from jobspec.scrub import url_secrets


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobspec")
@global_options
def cli() -> None:
    """Declarative DryvIQ transfer jobs: specs in git, `plan` in CI, `apply` in CD."""
    import os

    SCRUB.forget_all()  # a run knows its own secrets, not those of earlier runs in-process
    SCRUB.add(*(os.environ.get(name) for name in SECRET_VARIABLES))
    SCRUB.add(*url_secrets(os.environ.get("JOBSPEC_STATE", "")))


def _register() -> None:
    """Each module's `COMMANDS`, in any order (help lists them sorted); `__main__` is skipped."""
    for found in pkgutil.iter_modules(__path__):
        if not found.name.startswith("_"):
            module = import_module(f"{__name__}.{found.name}")
            for command in getattr(module, "COMMANDS", ()):
                cli.add_command(command)


_register()

GC_YOUNG_THRESHOLD = 50_000


def main() -> None:
    # A plan builds hundreds of thousands of objects that live until the process ends (a
    # listing's jobs, the specs, the plan) and hardly any cycles; at the default threshold (700
    # allocations) the collector kept re-scanning them: a third of the plan's CPU at 10,000
    # specs. Collect young objects every 50,000 allocations instead.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    cli(prog_name="jobspec")


__all__ = ["cli", "main"]
