"""files.atomic_write(replace=False): `generate --out` never writes over a file, even one that
appears while it writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobspec.files import atomic_write


def test_a_file_that_appears_while_writing_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "gen.yaml"

    def chunks() -> Iterator[bytes]:
        yield b"generated\n"
        path.write_bytes(b"written by someone else\n")  # between the check and the rename

    with pytest.raises(FileExistsError):
        atomic_write(path, chunks(), replace=False)
    assert path.read_bytes() == b"written by someone else\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gen.yaml"]  # no temp file left behind


def test_without_a_file_there_it_writes(tmp_path: Path) -> None:
    path = tmp_path / "gen.yaml"
    atomic_write(path, [b"generated\n"], replace=False)
    assert path.read_bytes() == b"generated\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gen.yaml"]
