"""A crash-consistency harness for the file store, in the spirit of ALICE and SQLite's tests.

`RecordingFs` is the store's file-system seam (`jobspec.files.FileSystem`) doing the real calls
and writing each one into a log: writes (with their offset), truncates, syncs, creates, links,
renames, unlinks and directory syncs. Before every sync it calls `on_sync_point`, which is
where a test notes what else a crash at that instant would freeze (the server's jobs).

`crash_images(log, upto)` then builds every file-system state POSIX allows a power loss to
leave after the first `upto` operations, under the usual model:
- a file's data is durable up to its last fsync/fdatasync; of the writes since, any prefix
  may have reached the disk, the first write left out may be torn, the unsynced region may
  read back as zeros or as garbage, and any one unsynced write may be a hole (zeros or
  garbage) between others that did reach the disk;
- names (create, link, rename, unlink) are durable up to the directory's last fsync; of the
  operations since, any prefix may have happened (a rename that did not: the old name still
  holds the old file, a torn rename).
Each image maps file names to their bytes.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobspec.files import FileSystem

Image = dict[str, bytes]


@dataclass(frozen=True)
class Op:
    kind: str  # write | truncate | sync | create | link | replace | unlink | dirsync
    file: int = -1  # the file (a number the recorder gives each file it sees created)
    offset: int = 0
    data: bytes = b""
    name: str = ""
    to: str = ""


@dataclass
class RecordingFs(FileSystem):
    """The real file system, every change logged; only files directly inside `directory`."""

    directory: Path
    on_sync_point: Callable[[int], None] = lambda upto: None
    log: list[Op] = field(default_factory=list)
    initial: dict[str, int] = field(default_factory=dict)  # name → file, before the first op
    initial_data: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._files: dict[tuple[int, int], int] = {}  # (st_dev, st_ino) → file number
        self._count = 0
        for entry in sorted(self.directory.iterdir()):
            if entry.is_file():
                number = self._number(os.stat(entry), new=True)
                self.initial[entry.name] = number
                self.initial_data[number] = entry.read_bytes()

    def _number(self, stat: os.stat_result, *, new: bool = False) -> int:
        key = (stat.st_dev, stat.st_ino)
        if new or key not in self._files:  # an inode number may be reused after an unlink
            self._count += 1
            self._files[key] = self._count
        return self._files[key]

    def _file(self, fd: int) -> int:
        return self._number(os.fstat(fd))

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        with self._lock:
            existed = os.path.exists(path)
            fd = super().open(path, flags, mode)
            if not existed:
                number = self._number(os.fstat(fd), new=True)
                self.log.append(Op("create", number, name=Path(path).name))
            return fd

    def write(self, fd: int, data: bytes) -> None:
        with self._lock:
            offset = os.fstat(fd).st_size  # every write here appends (O_APPEND or a new file)
            super().write(fd, data)
            self.log.append(Op("write", self._file(fd), offset=offset, data=bytes(data)))

    def truncate(self, fd: int, size: int) -> None:
        with self._lock:
            super().truncate(fd, size)
            self.log.append(Op("truncate", self._file(fd), offset=size))

    def _sync_point(self, op: Op) -> None:
        # Under the lock: no other write or sync is logged or made while the test freezes
        # the world at this point (calls already on the wire may still land: a crash allows it).
        with self._lock:
            self.on_sync_point(len(self.log))
            self.log.append(op)

    def datasync(self, fd: int) -> None:
        self._sync_point(Op("sync", self._file(fd)))
        super().datasync(fd)

    def fsync(self, fd: int) -> None:
        self._sync_point(Op("sync", self._file(fd)))
        super().fsync(fd)

    def fsync_dir(self, directory: Path) -> None:
        self._sync_point(Op("dirsync"))
        super().fsync_dir(directory)

    def link(self, src: Path, dst: Path) -> None:
        with self._lock:
            super().link(src, dst)
            self.log.append(Op("link", name=Path(src).name, to=Path(dst).name))

    def replace(self, src: Path, dst: Path) -> None:
        with self._lock:
            super().replace(src, dst)
            self.log.append(Op("replace", name=Path(src).name, to=Path(dst).name))

    def unlink(self, path: Path) -> None:
        with self._lock:
            super().unlink(path)
            self.log.append(Op("unlink", name=Path(path).name))


@dataclass
class _Model:
    names: dict[str, int]  # durable names
    pending: list[Op]  # name operations since the last directory sync
    data: dict[int, bytes]  # what each file holds now
    durable: dict[int, bytes]  # what each file holds on disk for sure
    unsynced: dict[int, list[Op]]  # writes and truncates since each file's last sync


def _replay(fs: RecordingFs, upto: int) -> _Model:
    model = _Model(
        names=dict(fs.initial),
        pending=[],
        data=dict(fs.initial_data),
        durable=dict(fs.initial_data),
        unsynced={},
    )
    for op in fs.log[:upto]:
        if op.kind == "create":
            model.data[op.file] = model.durable[op.file] = b""
            model.pending.append(op)
        elif op.kind in ("link", "replace", "unlink"):
            model.pending.append(op)
        elif op.kind == "write":
            model.data[op.file] = _put(model.data[op.file], op.offset, op.data)
            model.unsynced.setdefault(op.file, []).append(op)
        elif op.kind == "truncate":
            model.data[op.file] = model.data[op.file][: op.offset]
            model.unsynced.setdefault(op.file, []).append(op)
        elif op.kind == "sync":
            model.durable[op.file] = model.data[op.file]
            model.unsynced.pop(op.file, None)
        elif op.kind == "dirsync":
            model.names = _rename(model.names, model.pending)
            model.pending = []
    return model


def _put(data: bytes, offset: int, chunk: bytes) -> bytes:
    data = data.ljust(offset, b"\0")
    return data[:offset] + chunk + data[offset + len(chunk) :]


def _rename(names: dict[str, int], ops: list[Op]) -> dict[str, int]:
    names = dict(names)
    for op in ops:
        if op.kind == "create":
            names[op.name] = op.file
        elif op.kind == "link":
            names[op.to] = names[op.name]
        elif op.kind == "replace":
            names[op.to] = names.pop(op.name)
        elif op.kind == "unlink":
            names.pop(op.name, None)
    return names


def _data_variants(durable: bytes, ops: list[Op], rng: random.Random) -> Iterator[bytes]:
    """What a file may hold after a crash, given its durable bytes and its unsynced changes."""
    data = durable
    yield data
    for op in ops:  # any prefix of the changes, in order
        data = _put(data, op.offset, op.data) if op.kind == "write" else data[: op.offset]
        yield data
    writes = [op for op in ops if op.kind == "write"]
    if len(writes) != len(ops) or not writes or writes[0].offset != len(durable):
        return
    if any(b.offset != a.offset + len(a.data) for a, b in itertools.pairwise(writes)):
        return
    region = sum(len(op.data) for op in writes)
    yield durable + b"\0" * region
    yield durable + rng.randbytes(region)
    done = durable
    for index, op in enumerate(writes):
        yield done + op.data[: max(1, len(op.data) // 2)]  # this write torn, none after it
        rest = b"".join(later.data for later in writes[index + 1 :])
        yield done + b"\0" * len(op.data) + rest  # a hole between writes that landed
        yield done + rng.randbytes(len(op.data)) + rest
        done += op.data


def crash_images(fs: RecordingFs, upto: int, *, seed: int = 0) -> Iterator[Image]:
    """Every state (file name → bytes) a power loss after `fs.log[:upto]` may leave."""
    model = _replay(fs, upto)
    rng = random.Random(seed * 1_000_003 + upto)
    for k in range(len(model.pending) + 1):
        names = _rename(model.names, model.pending[:k])
        base = {name: model.durable.get(number, b"") for name, number in names.items()}
        yield base
        yield {name: model.data.get(number, b"") for name, number in names.items()}
        for number, ops in model.unsynced.items():
            shown = [name for name, n in names.items() if n == number]
            if not shown:
                continue
            for variant in _data_variants(model.durable.get(number, b""), ops, rng):
                yield base | dict.fromkeys(shown, variant)


def durable_image(fs: RecordingFs, upto: int) -> Image:
    """Only what was synced: the state every crash at this point must at least keep."""
    model = _replay(fs, upto)
    return {name: model.durable.get(number, b"") for name, number in model.names.items()}
