"""The platform lock primitive and the rule that keeps the package importable on Windows."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import jobspec
from jobspec.state.oslock import BINARY, read_at, try_lock, write_at

POSIX_ONLY = {"fcntl", "termios", "pwd", "grp", "resource", "tty", "pty", "posix"}
WINDOWS_ONLY = {"msvcrt", "winreg", "_winapi"}


def test_the_lock_is_exclusive_between_open_files_and_freed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first = os.open(path, os.O_RDWR | os.O_CREAT | BINARY, 0o644)
    second = os.open(path, os.O_RDWR | BINARY)
    try:
        assert try_lock(first) is True
        assert try_lock(second) is False
        os.close(first)
        first = -1
        assert try_lock(second) is True
    finally:
        for fd in (first, second):
            if fd >= 0:
                os.close(fd)


def test_positioned_io_leaves_the_content_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | BINARY, 0o644)
    try:
        assert try_lock(fd)
        write_at(fd, b'{"holder": "me"}\n', 0)
        assert read_at(fd, 100, 0) == b'{"holder": "me"}\n'
        assert path.read_bytes() == b'{"holder": "me"}\n'  # the locked byte is elsewhere
    finally:
        os.close(fd)


def _top_level_imports(tree: ast.Module) -> set[str]:
    """Modules imported unconditionally at import time (not inside an `if`, def or class)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_a_platform_only_module_unconditionally() -> None:
    package = Path(jobspec.__file__).parent
    offenders = {}
    for path in sorted(package.rglob("*.py")):
        found = _top_level_imports(ast.parse(path.read_text(encoding="utf-8")))
        if found & (POSIX_ONLY | WINDOWS_ONLY):
            offenders[str(path.relative_to(package))] = sorted(found & (POSIX_ONLY | WINDOWS_ONLY))
    assert offenders == {}
