"""`jobspec fmt`: spec files rewritten in canonical form."""

from __future__ import annotations

from pathlib import Path

from jobspec.files import atomic_write
from jobspec.spec import format_spec_text, spec_files

__all__ = ["format_specs"]


def format_specs(directory: Path, *, check: bool) -> list[Path]:
    """`jobspec fmt`: the spec files not in canonical form, rewritten unless `check`.

    Only valid specs are rewritten: the caller loads them first.
    """
    changed = []
    for path in spec_files(directory):
        text = path.read_text(encoding="utf-8")
        formatted = format_spec_text(text)
        if formatted == text:
            continue
        changed.append(path)
        if not check:
            atomic_write(path, [formatted.encode("utf-8")])
    return changed
