"""The installed distribution's metadata: its own name, one version, licence, extras, command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from importlib.metadata import distribution, version
from pathlib import Path

import pytest

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


def test_the_sdist_ships_no_tests_and_the_changelog(tmp_path: Path) -> None:
    """No tests at all (they need the whole repository), rather than some without helpers."""
    setuptools = tuple(int(part) for part in version("setuptools").split(".")[:1])
    if setuptools < (77,):
        pytest.skip("building needs setuptools>=77 (the build-system requirement)")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "CHANGELOG.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copytree(ROOT / "tests", project / "tests")  # present, so that leaving it out counts
    build = "from setuptools import build_meta; print(build_meta.build_sdist('dist'))"
    done = subprocess.run(
        [sys.executable, "-c", build], cwd=project, capture_output=True, text=True, check=True
    )
    archive = project / "dist" / done.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as sdist:
        names = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    assert not [name for name in names if name.startswith("tests")]
    assert "CHANGELOG.md" in names and "src/jobspec/render.py" in names


def test_readme_links_work_on_the_package_index_page() -> None:
    """Relative links are dead on the index page: every link in the README is absolute."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets
    for target in targets:
        assert target.startswith(("https://", "http://", "#", "mailto:")), target
