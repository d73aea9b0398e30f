"""The installed distribution's metadata: its own name, one version, licence, extras, command."""

from __future__ import annotations

import tomllib
from importlib.metadata import distribution
from pathlib import Path

import jobspec
from jobspec.errors import DISTRIBUTION

ROOT = Path(__file__).parent.parent


def test_the_distribution_has_its_own_name_and_one_version() -> None:
    meta = distribution(DISTRIBUTION).metadata
    assert meta["Name"] == "dryviq-jobspec"
    assert meta["Version"] == jobspec.__version__  # pyproject reads it from the package
    assert meta["License-Expression"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert set(meta.get_all("Provides-Extra") or []) >= {"emulator", "postgres", "dev"}
    assert any(url.startswith("Source, https://") for url in meta.get_all("Project-URL") or [])
    assert "Operating System :: OS Independent" in (meta.get_all("Classifier") or [])


def test_the_command_is_still_jobspec() -> None:
    scripts = {ep.name: ep.value for ep in distribution(DISTRIBUTION).entry_points}
    assert scripts == {"jobspec": "jobspec.cli:main"}


def test_the_server_stack_is_an_extra_not_a_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    assert "starlette" not in core and "uvicorn" not in core and "psycopg" not in core
    extras = project["optional-dependencies"]
    assert any(r.startswith("starlette") for r in extras["emulator"])
    assert any(r.startswith("uvicorn") for r in extras["emulator"])
    assert any(r.startswith("psycopg") for r in extras["postgres"])
    assert "dryviq-jobspec[emulator,postgres]" in extras["dev"]


def test_every_requirement_has_a_lower_bound_the_lowest_step_can_pin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = project["dependencies"] + [
        r for name in ("emulator", "postgres") for r in project["optional-dependencies"][name]
    ]
    assert all(">=" in requirement for requirement in runtime)


def test_docs_and_examples_install_the_new_name_only() -> None:
    texts = [ROOT / "README.md", *(ROOT / "examples").rglob("*.yml")]
    for path in texts:
        text = path.read_text(encoding="utf-8")
        assert "install jobspec" not in text and "'jobspec[" not in text, path
        assert '"jobspec==' not in text and "'jobspec==" not in text, path
