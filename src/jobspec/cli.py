"""Argument parsing and wiring: the one place that prints and chooses exit codes.

Heavy modules (pydantic models, httpx, ruamel, uvicorn, rich) are imported inside the commands
so that `jobspec --help` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from jobspec import __version__
from jobspec.errors import JobspecError

F = TypeVar("F", bound=Callable[..., Any])


def _report_errors(func: F) -> F:
    """Turn a `JobspecError` into `error: …` / `hint: …` and its exit code; bugs keep tracebacks."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except JobspecError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobspec")
def cli() -> None:
    """Declarative DryvIQ transfer jobs: specs in git, `plan` in CI, `apply` in CD."""


# --- emulator -----------------------------------------------------------------------------------
# (the `emulator` command is registered below)


def main() -> None:
    cli(prog_name="jobspec")


if __name__ == "__main__":
    main()
