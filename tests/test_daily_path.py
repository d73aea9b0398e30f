"""The daily path: generated docs, the example pipelines, schema, fmt and completion."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from jobspec.cli import cli
from jobspec.schema import spec_json_schema, spec_reference_markdown

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.yml"))


def run(*args: str, cwd: Path | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_spec_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    assert committed == spec_reference_markdown(), (
        "docs/spec-reference.md is stale: run `jobspec schema --format markdown > "
        "docs/spec-reference.md`"
    )


def test_reference_names_every_transfer_option() -> None:
    text = spec_reference_markdown()
    for key in ("lock_propagation", "delete_propagation", "permissions.failures", "passthrough"):
        assert key in text


def test_schema_command_prints_the_json_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document == spec_json_schema()
    job = document["$defs"]["JobSpec"]
    assert job["additionalProperties"] is False
    assert set(job["properties"]) == {
        "source",
        "original",
        "overrides",
        "passthrough",
        "allow_overlap_with",
        "allow_unplaced",
        "wait_for_idle",
        "moved_from",
        "cutover",
        "accept_warnings",
    }


def _pipeline_commands(path: Path) -> list[list[str]]:
    """Every `jobspec …` command line in the `run:` / `script:` steps of a pipeline file."""
    document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    scripts: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script", "after_script"):
                    scripts.extend(_flat(value))
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(document)
    commands = []
    for script in scripts:
        for line in str(script).replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line.startswith("jobspec "):
                continue
            words = shlex.split(line.split(">")[0].split("||")[0], comments=True)
            commands.append(words[1:])
    return commands


def _flat(value: Any) -> list[str]:
    """A script as GitLab runs it: anchored lists inside lists are flattened."""
    if isinstance(value, list):
        return [line for item in value for line in _flat(item)]
    return [str(value)]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_pipelines_run_commands_that_exist(path: Path) -> None:
    commands = _pipeline_commands(path)
    assert {words[0] for words in commands} >= {"validate", "plan", "apply"}
    for words in commands:
        group: click.Group = cli
        name, *args = words
        command = group.get_command(click.Context(group), name)
        assert command is not None, f"{path.name}: no command `jobspec {name}`"
        # parsing checks every option and argument without running anything
        command.make_context(name, list(args))


def test_examples_exist_for_both_platforms() -> None:
    names = {path.parent.name for path in EXAMPLES} | {path.name for path in EXAMPLES}
    assert "workflows" in names and ".gitlab-ci.yml" in names


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MESSY = """\
version: 1
jobs:
    finance:   # the finance job
        source: c4d8c04a69224ef0bfaa2f8e920b8792
        overrides:
            name:   "Finance archive"
            transfer: {lock_propagation: ignore}
            schedule:
                days:
                - mon
                - tue
"""


def test_fmt_rewrites_keeping_comments_and_order(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "specs", MESSY)
    check = run("fmt", "--check")
    assert check.exit_code == 1 and "would reformat" in check.stdout
    assert path.read_text(encoding="utf-8") == MESSY  # --check changes nothing
    assert run("fmt").exit_code == 0
    formatted = path.read_text(encoding="utf-8")
    assert "# the finance job" in formatted
    assert formatted.index("source") < formatted.index("overrides")
    assert "  finance:" in formatted and "    source:" in formatted
    assert run("fmt", "--check").exit_code == 0
    assert run("validate").exit_code == 0


def test_fmt_refuses_invalid_specs_and_writes_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    broken = MESSY.replace("source:", "sorce:")
    path = _write(tmp_path / "specs", broken)
    result = run("fmt")
    assert result.exit_code == 1
    assert "specs/jobs.yaml:" in result.stderr
    assert path.read_text(encoding="utf-8") == broken


def test_shipped_specs_are_canonical(monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    assert run("fmt", "--check").exit_code == 0


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0
    assert "_JOBSPEC_COMPLETE" in result.stdout


def test_pre_commit_hooks_name_real_commands() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    for hook in hooks:
        name, *args = shlex.split(hook["entry"])[1:]
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        command.make_context(name, args)


def test_pre_commit_offers_a_rewriting_fmt_hook_beside_the_checking_one() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    entries = {hook["id"]: hook["entry"] for hook in hooks}
    assert entries["jobspec-fmt"] == "jobspec fmt"
    assert entries["jobspec-fmt-check"] == "jobspec fmt --check"
    assert all(re.search(hook["files"], "jobspec.toml") for hook in hooks)
