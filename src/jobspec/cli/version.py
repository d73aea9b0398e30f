"""`version`: jobspec's version and its main dependencies' (`--version` prints only the first)."""

from __future__ import annotations

import click

from jobspec.cli.options import Command, format_option
from jobspec.cli.runtime import show


@click.command(cls=Command)
@format_option(["text", "json"], default="text")
def version(output_format: str) -> None:
    """Print jobspec's version and its main dependencies' (for bug reports and pins).

    A dependency that is not installed shows as `not installed` (null in JSON).

    \b
    Example:
      jobspec version --format json
    """
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version as installed

    from jobspec import __version__
    from jobspec.views.versions import DEPENDENCIES, version_report

    found: dict[str, str | None] = {}
    for name in DEPENDENCIES:
        try:
            found[name] = installed(name)
        except PackageNotFoundError:
            found[name] = None
    show(
        version_report(
            jobspec=__version__,
            python=platform.python_version(),
            platform=sys.platform,
            dependencies=found,
            output_format=output_format,
        )
    )


COMMANDS = (version,)
