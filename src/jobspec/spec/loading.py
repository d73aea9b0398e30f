"""From `specs/*.yaml` to `DesiredJob` values, and every problem on the way.

Only `*.yaml` and `*.yml` files directly inside the directory are specs (not recursive), in
name order, so that a stray `specs/old/` or a fixture folder below it is never applied by
accident. Hostile input is a problem, never a traceback: files over `MAX_FILE_BYTES` are
refused before they are read, text must be UTF-8, and a link to a file outside the folder is
not read. The values are then checked against the models, each problem at its position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jobspec.collector import paused
from jobspec.errors import Problem, SpecError
from jobspec.model import (
    ADDRESS_PATTERN,
    ADDRESS_RE,
    SPEC_VERSION,
    DesiredJob,
    JobSpec,
    SourceLocation,
    SpecFile,
)
from jobspec.spec.events import At, Refused, Spans, build
from jobspec.spec.problems import (
    QUOTE,
    address_hint,
    describe,
    did_you_mean,
    display_path,
    explain,
    kind_of,
    problem_at,
)

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 5 * 1024 * 1024
"""Larger files are refused unread: no real spec file comes near this."""


def load_specs(directory: Path, *, pure: bool = False) -> dict[str, DesiredJob]:
    """Every job in the spec files of `directory`, by address (sorted).

    Raises `SpecError` carrying every problem found, across all files, in one pass. `pure`
    parses with ruamel's pure-Python parser even where its C parser is installed (the tests
    run both: they must read every file alike).
    """
    desired, problems = collect_problems(directory, pure=pure)
    if problems:
        raise SpecError(problems)
    return desired


def collect_problems(
    directory: Path, *, pure: bool = False
) -> tuple[dict[str, DesiredJob], list[Problem]]:
    """The valid jobs (by address, sorted) and every problem, in file then position order.

    `pure`: as for `load_specs`.
    """
    shown_dir = display_path(directory)
    if not directory.exists():
        return {}, [Problem(shown_dir, 1, 1, f"spec directory {shown_dir}/ does not exist")]
    if not directory.is_dir():
        return {}, [Problem(shown_dir, 1, 1, f"{shown_dir} is not a directory")]
    try:
        files = spec_files(directory)
    except OSError as exc:
        return {}, [Problem(shown_dir, 1, 1, f"cannot list {shown_dir}/: {exc.strerror}")]
    if not files:
        return {}, [Problem(shown_dir, 1, 1, f"no *.yaml spec files in {shown_dir}/")]

    with paused():  # many small objects that live until the end (`jobspec.collector`)
        return _load_files(files, pure=pure)


def yaml_value(text: str) -> Any:
    """`text` as one YAML value, read as a spec file's values are (YAML 1.2, core tags only).

    For values typed on the command line (`generate --set PATH=VALUE`): `true`, `3` and
    `{mode: manual}` are a bool, a number and a mapping, as they would be in a spec. Raises
    ValueError with the reason when the text is not one plain YAML value.
    """
    problems: list[str] = []

    def at(line: int, column: int, message: str, hint: str | None = None) -> None:
        problems.append(f"{message} ({hint})" if hint else message)

    try:
        value, _, _ = build(text, at)
    except Refused:
        value = None
    if problems:
        raise ValueError(problems[0])
    return value


def read_pairs(path: Path) -> tuple[list[tuple[Any, Any, int]], list[Problem]]:
    """A YAML file that is one mapping (`import --from`): each key and value with its line.

    Problems (unreadable, not YAML, not a mapping) come back as for spec files, positioned.
    """
    shown = display_path(path)
    problems: list[Problem] = []

    def at(line: int, column: int, message: str, hint: str | None = None) -> None:
        problems.append(Problem(shown, line, column, message, hint))

    text = _read_text(path, at)
    if text is None:
        return [], problems
    try:
        root, spans, _ = build(text, at)
    except Refused:
        return [], problems
    if not isinstance(root, dict):
        at(1, 1, f"expected a mapping of address to job id, not {kind_of(root)}")
        return [], problems
    marks = spans.maps[id(root)][1]
    return [(key, value, marks[key][0].line + 1) for key, value in root.items()], problems


def _load_files(files: list[Path], *, pure: bool) -> tuple[dict[str, DesiredJob], list[Problem]]:
    desired: dict[str, DesiredJob] = {}
    seen: dict[str, SourceLocation] = {}  # every address written, valid job or not
    problems: list[Problem] = []
    for path in files:
        file_problems: list[Problem] = []
        for address, location, job in _load_file(path, file_problems, pure=pure):
            first = seen.setdefault(address, location)
            if first is not location:
                file_problems.append(
                    problem_at(
                        location,
                        f"duplicate address `{address}`: also defined at {first}",
                        "addresses must be unique across all spec files",
                    )
                )
            elif job is not None:
                desired[address] = job
        file_problems.sort(key=lambda p: (p.line, p.column))
        problems.extend(file_problems)
    problems.extend(_shared_clone_names(desired))
    return dict(sorted(desired.items())), problems


def _shared_clone_names(desired: dict[str, DesiredJob]) -> list[Problem]:
    """Two specs that give their clones one name: refused, because a clone whose reply was
    lost is recognised by its name, and one spec could then adopt the other's clone."""
    first_by_name: dict[str, DesiredJob] = {}
    problems = []
    for address in sorted(desired):
        wanted = desired[address]
        name = wanted.spec.overrides.name
        if name is None:
            continue  # the default name carries the address, so it is unique
        first = first_by_name.setdefault(name, wanted)
        if first is not wanted:
            problems.append(
                problem_at(
                    wanted.location,
                    f"clone name {name!r} is also the name of `{first.address}`'s clone "
                    f"({first.location})",
                    "give each clone its own name: jobspec recognises its clones by name",
                )
            )
    return problems


def spec_files(directory: Path) -> list[Path]:
    """The spec files directly inside `directory` (not recursive), sorted by name."""
    return sorted(
        (p for p in directory.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file()),
        key=lambda p: p.name,
    )


# --- one file -------------------------------------------------------------------------------

_Written = tuple[str, SourceLocation, DesiredJob | None]
"""An address as written in a file, where, and its job if the job is valid."""


def _load_file(path: Path, problems: list[Problem], *, pure: bool) -> list[_Written]:
    shown = display_path(path)

    def at(line: int, column: int, message: str, hint: str | None = None) -> None:
        problems.append(Problem(shown, line, column, message, hint))

    text = _read_text(path, at)
    if text is None:
        return []
    try:
        root, spans, root_mark = build(text, at, pure=pure)
    except Refused:
        return []
    if root is None:
        at(1, 1, "empty spec file", "a spec file starts with `version: 1` and `jobs:`")
        return []
    return _check_file(shown, root, spans, root_mark, problems)


def _read_text(path: Path, at: At) -> str | None:
    if _leaves_folder(path):
        at(
            1,
            1,
            "a link to a file outside the spec folder: refused, and not read",
            "spec files are files inside the spec folder; copy the file in instead",
        )
        return None
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            at(1, 1, f"file is {size:,} bytes, over the {_limit()} limit for a spec file")
            return None
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        at(1, 1, f"cannot read the file: {exc.strerror or exc}")
        return None
    if len(data) > MAX_FILE_BYTES:  # it grew since stat()
        at(1, 1, f"file is over the {_limit()} limit for a spec file")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(data, exc.start)
        at(line, column, f"not valid UTF-8 text (byte 0x{data[exc.start]:02x})")
        return None
    return text.removeprefix("\ufeff")


def _leaves_folder(path: Path) -> bool:
    """Does `path` (a file directly in the spec folder) resolve to a file outside it?

    A link could make `validate` quote lines of any file the user can read (a key, a
    password file) in its problems, and a CI log would keep them.
    """
    try:
        return not path.resolve(strict=True).is_relative_to(path.parent.resolve(strict=True))
    except (OSError, RuntimeError):  # a dangling or looping link: reading it fails anyway
        return path.is_symlink()


def _limit() -> str:
    megabytes, rest = divmod(MAX_FILE_BYTES, 1024 * 1024)
    return f"{megabytes} MB" if megabytes and not rest else f"{MAX_FILE_BYTES:,}-byte"


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


# --- values -> DesiredJob, problems mapped back to positions ---------------------------------


def _check_file(
    shown: str, root: Any, spans: Spans, root_mark: Any, problems: list[Problem]
) -> list[_Written]:
    def at_mark(mark: Any, message: str, hint: str | None = None) -> None:
        problems.append(Problem(shown, mark.line + 1, mark.column + 1, message, hint))

    if not isinstance(root, dict):
        at_mark(
            root_mark, f"a spec file is a mapping with `version` and `jobs`, not {kind_of(root)}"
        )
        return []
    marks = spans.maps[id(root)][1]
    fields = list(SpecFile.model_fields)
    for key in root:
        if key not in SpecFile.model_fields:
            at_mark(marks[key][0], f"unknown top-level key `{key}`", did_you_mean(str(key), fields))

    newer = False
    if "version" not in root:
        at_mark(root_mark, "missing `version`", f"start the file with `version: {SPEC_VERSION}`")
    else:
        version = root["version"]
        if type(version) is int and version > SPEC_VERSION:
            newer = True
            at_mark(
                marks["version"][1],
                f"spec format version {version} is newer than this jobspec supports "
                f"({SPEC_VERSION})",
                "upgrade jobspec to read this file",
            )
        elif type(version) is not int or version != SPEC_VERSION:
            at_mark(
                marks["version"][1],
                f"`version` must be {SPEC_VERSION}, not {describe(version)}",
            )

    if "jobs" not in root:
        at_mark(root_mark, "missing `jobs` (a mapping from address to job)")
        return []
    jobs = root["jobs"]
    if not isinstance(jobs, dict):
        at_mark(
            marks["jobs"][0 if jobs is None else 1],
            f"`jobs` must be a mapping from address to job, not {kind_of(jobs)}",
        )
        return []
    if newer:
        return []  # its jobs may use fields this version does not know: no noise about them

    job_marks = spans.maps[id(jobs)][1]
    written: list[_Written] = []
    for address, raw in jobs.items():
        key_mark, value_mark = job_marks[address]
        good_address = isinstance(address, str) and ADDRESS_RE.match(address) is not None
        if not isinstance(address, str):
            at_mark(key_mark, f"address {describe(address)} must be a string", QUOTE)
        elif not good_address:
            at_mark(
                key_mark,
                f"address `{address}` must match {ADDRESS_PATTERN} "
                "(lowercase letters, digits, `.`, `_`, `-`)",
                address_hint(address),
            )
        job: DesiredJob | None = None
        location = SourceLocation(file=shown, line=key_mark.line + 1, column=key_mark.column + 1)
        try:
            spec = JobSpec.model_validate(raw)
        except ValidationError as exc:
            written_at = (key_mark, value_mark)
            for problem in explain(exc, raw, ("jobs", address), written_at, spans):
                at_mark(*problem)
        else:
            if good_address:
                job = DesiredJob(address=address, spec=spec, location=location)
        if isinstance(address, str):
            written.append((address, location, job))
    return written
