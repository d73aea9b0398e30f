"""Fixtures for the spec loader: both YAML parsers, and a scratch `specs/` directory."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

HAVE_C_PARSER = importlib.util.find_spec("_ruamel_yaml") is not None

WriteSpecs = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture(params=[True, False], ids=["pure", "c"])
def pure(request: pytest.FixtureRequest) -> bool:
    """The loader's `pure=`: the test runs with the pure-Python parser, and with the C one
    where it is installed."""
    if not request.param and not HAVE_C_PARSER:
        pytest.skip("ruamel.yaml.clib is not installed")
    return bool(request.param)


@pytest.fixture
def write_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteSpecs:
    """Write files into `specs/` under a fresh current directory; returns `Path("specs")`."""
    monkeypatch.chdir(tmp_path)

    def write(files: dict[str, str | bytes]) -> Path:
        directory = Path("specs")
        directory.mkdir(exist_ok=True)
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            (directory / name).write_bytes(data)
        return directory

    return write
