"""The import-linter contracts in pyproject.toml can fail: each probe adds one forbidden import
to a scratch copy of the package and `lint-imports` must name the contract it breaks.

The copy is found first on PYTHONPATH (before the editable install's path entry), so it, not
src/jobspec, is what gets analysed: a probe analysed against the real tree would pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

LAYERS = "Modules import only from the layers below them"
HTTPX = "Only the client imports httpx"
RUAMEL = "Only the spec loader imports ruamel"
PSYCOPG = "Only the PostgreSQL store imports psycopg"
DEEPDIFF = "Only the managed-field comparison imports deepdiff"
SERVER = "Only the emulator imports starlette and uvicorn"
TERMINAL = "Only the CLI imports click and rich"
EMULATOR_IMPORTERS = "Nothing but the CLI imports the emulator"
EMULATOR_IMPORTS = "The emulator imports nothing of jobspec but errors, merge and netaddr"

_VERDICT = re.compile(r"^(?P<name>.+) (?P<verdict>KEPT|BROKEN)\b", re.MULTILINE)


def lint_scratch_copy(tmp_path: Path, probe: tuple[str, str] | None) -> tuple[int, dict[str, str]]:
    """Copy the package and the config into `tmp_path`, append `probe`'s line (if any) to the
    module at its path, run lint-imports; its exit code and each contract's verdict."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "jobspec", src / "jobspec", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if probe is not None:
        path, line = probe
        module = src / "jobspec" / path
        text = module.read_text() if module.exists() else ""
        module.write_text(f"{text}\n{line}  # probe\n")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tmp_path / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=False,
    )
    verdicts = {m["name"]: m["verdict"] for m in _VERDICT.finditer(result.stdout)}
    assert verdicts, result.stdout + result.stderr  # a config error prints no verdicts
    return result.returncode, verdicts


def test_the_unmodified_copy_keeps_every_contract(tmp_path: Path) -> None:
    code, verdicts = lint_scratch_copy(tmp_path, None)
    assert set(verdicts.values()) == {"KEPT"}, verdicts
    assert code == 0
    assert len(verdicts) == 9


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the probes named in issue 12
        ("applier.py", "import httpx", {HTTPX}),
        ("applier.py", "import click", {TERMINAL}),
        ("planner.py", "import rich", {TERMINAL}),
        ("planner.py", "import jobspec.settings", {LAYERS}),
        ("commands/apply.py", "import jobspec.emulator.app", {LAYERS, EMULATOR_IMPORTERS}),
        ("emulator/rules.py", "import jobspec.client", {EMULATOR_IMPORTS}),
        # one more per ban: the module allowed is the only one, even next door
        ("model.py", "import ruamel.yaml", {RUAMEL}),
        ("generate.py", "import ruamel.yaml", {RUAMEL}),  # the ban covers all of spec/, no more
        ("state/__init__.py", "import psycopg", {PSYCOPG}),
        ("planner.py", "import deepdiff", {DEEPDIFF}),
        ("cli/runtime.py", "import uvicorn", {SERVER}),
        # issue 22: the bans hold package-wide, and the command layer stays free of the terminal
        ("planner.py", "import click", {TERMINAL}),
        ("commands/observe.py", "import click", {TERMINAL}),
        ("commands/apply.py", "import rich", {TERMINAL}),
        ("commands/adopt.py", "import jobspec.emulator", {LAYERS, EMULATOR_IMPORTERS}),
        ("cli/plan.py", "import httpx", {HTTPX}),
        ("cli/options.py", "import ruamel.yaml", {RUAMEL}),
        ("views/listeners.py", "import rich", {TERMINAL}),
        ("checks/planfile.py", "import jobspec.state", {LAYERS}),
        # the client is a package: every module of it may use httpx, a namesake may not,
        # and no module of it may reach the emulator
        ("clientele.py", "import httpx", {LAYERS, HTTPX}),
        ("client/_retry.py", "import jobspec.emulator", {LAYERS, EMULATOR_IMPORTERS}),
        ("client/_paging.py", "import jobspec.emulator.app", {LAYERS, EMULATOR_IMPORTERS}),
        # the merge helper is at the bottom: it imports nothing above it, and the emulator may
        # use it but nothing else of the model
        ("merge.py", "import jobspec.model", {LAYERS}),
        ("emulator/jobs.py", "import jobspec.model", {EMULATOR_IMPORTS}),
        # a new module is covered without editing the contracts
        ("newcomer.py", "import httpx", {LAYERS, HTTPX}),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, broken: set[str]
) -> None:
    code, verdicts = lint_scratch_copy(tmp_path, (module, line))
    assert {name for name, verdict in verdicts.items() if verdict == "BROKEN"} == broken
    assert code != 0
