"""Commands that look and report: validate, fmt, schema, drift, completion."""

from __future__ import annotations

import os
import sys
from typing import Unpack

import click

from jobspec.cli.options import (
    CREDENTIALS_EPILOG,
    Command,
    ConnectionFlags,
    config_path,
    connection_options,
    format_option,
)
from jobspec.cli.run import load_specs, server_run
from jobspec.cli.runtime import report_errors, show


@click.command(cls=Command)
@click.option(
    "--specs",
    "specs_dir",
    default=None,
    metavar="DIR",
    help="Directory of *.yaml / *.yml spec files, not searched recursively [default: `specs` "
    "in jobspec.toml, else specs].",
)
@format_option(
    ["text", "github", "json", "gitlab"],
    default="text",
    help="`github`: GitHub Actions error annotations; `json`: one object (valid, problems with "
    "file, line, column, message, hint); `gitlab`: a GitLab code-quality report.",
)
@report_errors
def validate(specs_dir: str | None, output_format: str) -> None:
    """Check the specs offline (YAML, schema, addresses): every problem in one pass.

    Exit 0 when clean, 1 when any problem is found. Never calls the API.

    \b
    Example:
      jobspec validate --format json
    """
    from jobspec.settings import specs_location
    from jobspec.spec import collect_problems, spec_files
    from jobspec.views import validate_report

    directory = specs_location(flag=specs_dir, config_path=config_path(), env=os.environ)
    desired, problems = collect_problems(directory)
    files = 0 if problems else len(spec_files(directory))
    show(
        validate_report(
            jobs=len(desired), files=files, problems=problems, output_format=output_format
        )
    )
    if problems:
        sys.exit(1)


@click.command(cls=Command, epilog=CREDENTIALS_EPILOG)
@connection_options
@format_option(["text", "json"], default="text")
@report_errors
def drift(output_format: str, **flags: Unpack[ConnectionFlags]) -> None:
    """Report what changed outside jobspec (read-only). Exit 2 when there is drift.

    Each finding says who moved: the spec (edited, not applied yet), the server (the clone or
    the original edited, deleted or rescheduled by hand) or the source job.

    \b
    Example:
      jobspec drift --format json --target finance-archive
    """
    from jobspec.commands.observe import drift as find
    from jobspec.views import drift_report

    run = server_run(**flags)
    desired, state = run.desired, run.store.read()
    found = run.with_api(lambda api: find(api, desired=desired, state=state, targets=run.targets))
    show(drift_report(found, output_format=output_format))
    if found:
        sys.exit(2)


@click.command(cls=Command)
@format_option(
    ["json", "markdown"],
    default="json",
    help="`markdown` is the field reference (docs/spec-reference.md).",
)
def schema(output_format: str) -> None:
    """Print the JSON Schema of spec files (for editors), generated from the models.

    \b
    Example:
      jobspec schema > jobspec.schema.json
    """
    from jobspec.schema import spec_json_schema_text, spec_reference_markdown

    text = spec_json_schema_text() if output_format == "json" else spec_reference_markdown()
    click.echo(text, nl=False)


@click.command(cls=Command)
@click.option(
    "--specs",
    "specs_dir",
    default=None,
    metavar="DIR",
    help="Spec directory [default: `specs` in jobspec.toml, else specs].",
)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@report_errors
def fmt(specs_dir: str | None, check: bool) -> None:
    """Rewrite spec files in canonical form, keeping comments and key order.

    \b
    Example:
      jobspec fmt --check
    """
    from jobspec.commands.fmt import format_specs
    from jobspec.settings import specs_location
    from jobspec.views import fmt_report

    directory = specs_location(flag=specs_dir, config_path=config_path(), env=os.environ)
    load_specs(directory)  # only valid specs are rewritten
    changed = format_specs(directory, check=check)
    show(fmt_report(changed, check=check))
    if check and changed:
        sys.exit(1)


@click.command(cls=Command)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: `eval "$(jobspec completion bash)"`.

    \b
    Example:
      jobspec completion zsh > ~/.zfunc/_jobspec
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None
    root = click.get_current_context().find_root().command
    click.echo(completer(root, {}, "jobspec", "_JOBSPEC_COMPLETE").source())


COMMANDS = (validate, drift, schema, fmt, completion)
