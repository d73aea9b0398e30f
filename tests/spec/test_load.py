"""The spec loader: valid specs load and normalise; every bad input is a positioned problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

import jobspec.spec.loading
from jobspec.errors import Problem, SpecError
from jobspec.model import (
    DeletePropagation,
    JobSpec,
    OriginalPolicy,
    PermissionPolicy,
    ScheduleMode,
    TransferType,
)
from jobspec.spec import MAX_DEPTH, MAX_FILE_BYTES, collect_problems, format_spec_text, load_specs
from tests.helpers import is_plain_json
from tests.spec.conftest import WriteSpecs

DATA = Path(__file__).parent.parent / "data"
HEAD = "version: 1\njobs:\n"
SOURCE = "c4d8c04a69224ef0bfaa2f8e920b8792"


def only_problem(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- valid specs ------------------------------------------------------------------------------


def test_valid_directory_loads_sorted_with_locations(
    pure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DATA)
    desired = load_specs(Path("specs-valid"), pure=pure)
    assert list(desired) == ["finance-archive", "finance-archive-2025", "hr.onboarding_v2"]
    assert str(desired["finance-archive"].location) == "specs-valid/finance.yaml:4:3"
    assert str(desired["finance-archive-2025"].location) == "specs-valid/finance.yaml:18:3"
    assert str(desired["hr.onboarding_v2"].location) == "specs-valid/hr.yml:3:3"


def test_values_are_normalised_and_merge_keys_apply(
    pure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DATA)
    spec = load_specs(Path("specs-valid"), pure=pure)["finance-archive-2025"].spec
    transfer = spec.overrides.transfer
    assert transfer is not None
    assert transfer.delete_propagation == ["ignore_destination"]
    assert transfer.permissions is not None
    assert transfer.permissions.model_dump(exclude_none=True) == {"policy": "add"}
    # merged from the `&archive` anchor, with the explicit `destination` winning
    assert transfer.lock_propagation == "ignore"
    assert transfer.versioning is not None and transfer.versioning.select == "all"
    assert transfer.destination is not None and transfer.destination.target is not None
    assert transfer.destination.target.path == "/Archive/Finance-2025"
    assert spec.original == "delete"


def test_yaml_1_2_scalars_and_passthrough(pure: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    spec = load_specs(Path("specs-valid"), pure=pure)["hr.onboarding_v2"].spec
    assert spec.passthrough == {
        "transfer": {"audit_level_extra": "loud"},
        "on": "yes",
        "review_on": "2026-01-01",  # timestamps stay text
    }
    assert spec.overrides.schedule is not None
    assert spec.overrides.schedule.start_date == 1767225600  # epoch seconds, as the API has it
    assert spec.overrides.priority == 3


def test_only_yaml_files_directly_inside_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # specs-valid/nested/ignored.yaml is broken and specs-valid/notes.txt is not YAML
    monkeypatch.chdir(DATA)
    assert [p.name for p in jobspec.spec.spec_files(Path("specs-valid"))] == [
        "finance.yaml",
        "hr.yml",
    ]


def test_absolute_directory_is_shown_relative_to_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    desired = load_specs(DATA / "specs-valid")
    assert desired["hr.onboarding_v2"].location.file == "specs-valid/hr.yml"


def test_empty_jobs_mapping_is_valid(write_specs: WriteSpecs) -> None:
    assert collect_problems(write_specs({"a.yaml": "version: 1\njobs: {}\n"})) == ({}, [])


def test_bom_is_accepted(write_specs: WriteSpecs) -> None:
    directory = write_specs(
        {"a.yaml": b"\xef\xbb\xbf" + f"{HEAD}  a: {{source: {SOURCE}}}\n".encode()}
    )
    assert list(load_specs(directory)) == ["a"]


# --- problems across files, in one pass -------------------------------------------------------


def test_every_problem_in_every_file_in_one_pass(
    pure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DATA)
    with pytest.raises(SpecError) as caught:
        load_specs(Path("specs-broken"), pure=pure)
    where = [(p.file, p.line, p.column) for p in caught.value.problems]
    assert where == [
        ("specs-broken/a.yaml", 7, 24),  # transfer_type: cpy
        ("specs-broken/a.yaml", 8, 9),  # lock_propogation (the key)
        ("specs-broken/a.yaml", 9, 44),  # links: maybe
        ("specs-broken/a.yaml", 11, 13),  # source: not-a-job-id
        ("specs-broken/a.yaml", 12, 15),  # original: dlete
        ("specs-broken/b.yaml", 4, 1),  # unclosed flow mapping: a syntax error hides nothing
        ("specs-broken/c.yml", 5, 3),  # duplicate address
    ]
    assert caught.value.message == "7 problems in specs"


def test_did_you_mean_for_unknown_key_and_enum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    _, problems = collect_problems(Path("specs-broken"))
    by_line = {(p.file, p.line): p for p in problems}
    unknown = by_line["specs-broken/a.yaml", 8]
    assert "unknown key `lock_propogation`" in unknown.message
    assert unknown.hint == "did you mean `lock_propagation`?"
    assert str(unknown).endswith("(did you mean `lock_propagation`?)")
    enum = by_line["specs-broken/a.yaml", 7]
    assert "'cpy' is not one of: sync, copy, move, migrate, publish, taxonomy" in enum.message
    assert enum.hint == "did you mean `copy`?"
    original = by_line["specs-broken/a.yaml", 12]
    assert "manual, delete, keep" in original.message
    assert original.hint == "did you mean `delete`?"


def test_duplicate_address_across_files_names_both_places(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(DATA)
    desired, problems = collect_problems(Path("specs-broken"))
    duplicate = problems[-1]
    assert (duplicate.file, duplicate.line, duplicate.column) == ("specs-broken/c.yml", 5, 3)
    assert duplicate.message == (
        "duplicate address `finance-archive`: also defined at specs-broken/a.yaml:3:3"
    )
    assert list(desired) == ["legal"]  # the valid job still loads for collect_problems


def test_duplicate_address_of_valid_jobs(write_specs: WriteSpecs) -> None:
    job = f"  same:\n    source: {SOURCE}\n"
    directory = write_specs({"a.yaml": HEAD + job, "b.yaml": HEAD + "\n" + job})
    desired, problems = collect_problems(directory)
    assert str(only_problem(problems)) == (
        "specs/b.yaml:4:3: duplicate address `same`: also defined at specs/a.yaml:3:3 "
        "(addresses must be unique across all spec files)"
    )
    assert str(desired["same"].location) == "specs/a.yaml:3:3"


def test_two_specs_naming_their_clones_alike_are_refused(write_specs: WriteSpecs) -> None:
    first = f"  first:\n    source: {SOURCE}\n    overrides: {{name: Archive}}\n"
    second = f"  second:\n    source: {'a' * 32}\n    overrides: {{name: Archive}}\n"
    directory = write_specs({"a.yaml": HEAD + first, "b.yaml": HEAD + second})
    _, problems = collect_problems(directory)
    assert str(only_problem(problems)) == (
        "specs/b.yaml:3:3: clone name 'Archive' is also the name of `first`'s clone "
        "(specs/a.yaml:3:3) (give each clone its own name: jobspec recognises its clones by name)"
    )


def test_passthrough_refuses_fields_that_overrides_check(write_specs: WriteSpecs) -> None:
    job = (
        f"  a:\n    source: {SOURCE}\n    passthrough:\n"
        "      schedule: {mode: sometimes}\n      transfer: {new_option: 1}\n"
    )
    _, problems = collect_problems(write_specs({"a.yaml": HEAD + job}))
    problem = only_problem(problems)
    assert (problem.line, problem.column) == (6, 7)  # where the passthrough mapping starts
    assert problem.message == (
        "jobs.a.passthrough: `schedule.mode` is a field jobspec knows: set it under "
        "`overrides`, where values are checked"
    )
    # an unknown field, even below a known mapping, is what passthrough is for
    fine = f"  a:\n    source: {SOURCE}\n    passthrough: {{transfer: {{new_option: 1}}}}\n"
    assert collect_problems(write_specs({"a.yaml": HEAD + fine}))[1] == []


# --- a table of bad inputs --------------------------------------------------------------------

JOB = f"  a:\n    source: {SOURCE}\n"
BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)

BAD_INPUTS: list[tuple[str, str | bytes, int, int, list[str]]] = [
    # id, content, line, column, fragments of the message (and hint)
    ("tab indent", HEAD + "\ta: 1\n", 3, 1, ["YAML syntax", "tabs"]),
    ("unclosed flow", HEAD + "  a: {source: x\n", 4, 1, ["YAML syntax", "flow mapping"]),
    ("bad colon", HEAD + "  a: b: c\n", 3, 7, ["YAML syntax", "mapping values are not allowed"]),
    (
        "duplicate key",
        "version: 1\nversion: 1\njobs: {}\n",
        2,
        1,
        ["duplicate key `version`", "line 1"],
    ),
    (
        "duplicate nested key",
        HEAD + JOB + f"    source: {SOURCE}\n",
        5,
        5,
        ["duplicate key `source`"],
    ),
    ("empty file", "", 1, 1, ["empty spec file"]),
    ("only comments", "# nothing yet\n", 1, 1, ["empty spec file"]),
    ("top level list", "- a\n- b\n", 1, 1, ["mapping with `version` and `jobs`", "not a list"]),
    ("top level text", "hello\n", 1, 1, ["mapping with `version` and `jobs`", "'hello'"]),
    ("unknown top key", "version: 1\njbos: {}\n", 1, 1, ["missing `jobs`"]),
    ("jobs a list", "version: 1\njobs: [a]\n", 2, 7, ["`jobs` must be a mapping", "not a list"]),
    ("jobs empty", "version: 1\njobs:\n", 2, 1, ["`jobs` must be a mapping", "not null"]),
    ("version missing", "jobs: {}\n", 1, 1, ["missing `version`", "version: 1"]),
    (
        "version newer",
        "version: 2\njobs: {}\n",
        1,
        10,
        ["spec format version 2 is newer than this jobspec supports (1)"],
    ),
    ("version text", "version: '1'\njobs: {}\n", 1, 10, ["`version` must be 1, not '1'"]),
    ("version bool", "version: true\njobs: {}\n", 1, 10, ["`version` must be 1, not true"]),
    ("job empty", HEAD + "  a:\n", 3, 3, ["jobs.a: expected a mapping, not null"]),
    (
        "source missing",
        HEAD + "  a:\n    original: keep\n",
        3,
        3,
        ["missing required key `source`"],
    ),
    (
        "source not hex",
        HEAD + "  a:\n    source: xyz\n",
        4,
        13,
        ["jobs.a.source: 'xyz' is not a job id (32 lowercase hex digits)"],
    ),
    ("source upper", HEAD + f"  a:\n    source: {SOURCE.upper()}\n", 4, 13, ["is not a job id"]),
    (
        "source digits",
        HEAD + "  a:\n    source: 12345678901234567890123456789012\n",
        4,
        13,
        ["expected a string", "quote it"],
    ),
    (
        "bad address",
        HEAD + f"  Finance Archive:\n    source: {SOURCE}\n",
        3,
        3,
        ["address `Finance Archive` must match", "did you mean `finance-archive`?"],
    ),
    (
        "number address",
        HEAD + f"  123:\n    source: {SOURCE}\n",
        3,
        3,
        ["address 123 must be a string", "quote it"],
    ),
    (
        "unknown job key",
        HEAD + JOB + "    overides: {}\n",
        5,
        5,
        ["jobs.a: unknown key `overides`", "did you mean `overrides`?"],
    ),
    (
        "deep unknown key",
        HEAD + JOB + "    overrides:\n      transfer:\n        lock_propogation: ignore\n",
        7,
        9,
        ["jobs.a.overrides.transfer: unknown key `lock_propogation`", "`lock_propagation`"],
    ),
    (
        "unknown key no match",
        HEAD + JOB + "    overrides: {transfer: {versioning: {zzz: 1}}}\n",
        5,
        41,
        ["unknown key `zzz`", "expected one of: `preserve`, `select`"],
    ),
    (
        "bad enum",
        HEAD + JOB + "    overrides: {schedule: {mode: manul}}\n",
        5,
        34,
        ["'manul' is not one of: manual, auto, ad-hoc", "did you mean `manual`?"],
    ),
    (
        "bad list enum",
        HEAD + JOB + "    overrides: {transfer: {delete_propagation: [mirror, mirorr]}}\n",
        5,
        57,
        ["delete_propagation.1: 'mirorr' is not one of", "`mirror`"],
    ),
    (
        "bad shorthand",
        HEAD + JOB + "    overrides: {transfer: {permissions: ad}}\n",
        5,
        41,
        ["'ad' is not one of: none, add, diff", "`add`"],
    ),
    (
        "bool expected",
        HEAD + JOB + "    overrides: {disabled: maybe}\n",
        5,
        27,
        ["overrides.disabled: expected true or false, not 'maybe'"],
    ),
    (
        "int expected",
        HEAD + JOB + "    overrides: {priority: high}\n",
        5,
        27,
        ["overrides.priority: expected a whole number, not 'high'"],
    ),
    (
        "str expected",
        HEAD + JOB + "    overrides: {name: 5}\n",
        5,
        23,
        ["overrides.name: expected a string, not 5", "quote it"],
    ),
    (
        "union expected",
        HEAD + JOB + "    overrides: {schedule: {start_date: [1]}}\n",
        5,
        40,
        ["start_date: expected a whole number or a string, not a list"],
    ),
    (
        "mapping expected",
        HEAD + JOB + "    overrides: [name]\n",
        5,
        16,
        ["jobs.a.overrides: expected a mapping, not a list"],
    ),
    (
        "empty name",
        HEAD + JOB + "    overrides: {name: ''}\n",
        5,
        23,
        ["overrides.name: must not be empty or blank"],
    ),
    (
        "blank name",
        HEAD + JOB + "    overrides: {name: '   '}\n",
        5,
        23,
        ["overrides.name: must not be empty or blank"],
    ),
    (
        "range",
        HEAD + JOB + "    overrides: {schedule: {repeat_interval: {value: 0, unit: d}}}\n",
        5,
        53,
        ["repeat_interval.value: input should be greater than or equal to 1"],
    ),
    (
        "nested missing",
        HEAD + JOB + "    overrides:\n      schedule:\n        repeat_interval: {unit: day}\n",
        7,
        9,
        ["repeat_interval: missing required key `value`"],
    ),
    (
        "passthrough key",
        HEAD + JOB + "    passthrough: {1: x}\n",
        5,
        19,
        ["passthrough.1: a key must be a string, not 1"],
    ),
    (
        "python tag",
        HEAD + "  a: !!python/object/apply:os.system ['touch pwned']\n",
        3,
        6,
        ["unsupported tag `!!python/object/apply:os.system`"],
    ),
    ("binary tag", HEAD + "  a: !!binary aGVsbG8=\n", 3, 6, ["unsupported tag `!!binary`"]),
    ("local tag", HEAD + "  a: !vault {x: 1}\n", 3, 6, ["unsupported tag `!vault`"]),
    (
        "bad explicit int",
        HEAD + JOB + "    overrides: {priority: !!int high}\n",
        5,
        27,
        ["'high' is not a valid !!int value"],
    ),
    ("infinity", HEAD + JOB + "    passthrough: {x: .inf}\n", 5, 22, ["not a finite number"]),
    (
        "huge int",
        HEAD + JOB + "    overrides: {priority: " + "9" * 5000 + "}\n",
        5,
        27,
        ["is not a valid !!int value"],
    ),
    ("merge not mapping", HEAD + JOB + "    <<: 5\n", 5, 9, ["a `<<` merge takes a mapping"]),
    ("complex key", HEAD + "  ? [a, b]\n  : 1\n", 3, 5, ["a mapping key must be a plain value"]),
    ("undefined alias", HEAD + "  a: *nope\n", 3, 6, ["alias `*nope` names no anchor"]),
    ("recursive alias", "a: &a [1, *a]\n", 1, 11, ["alias `*a` names no anchor"]),
    ("billion laughs", BOMB, 6, 36, ["expands to more than 1,000,000 values"]),
    (
        "too deep",
        "[" * (MAX_DEPTH + 50) + "]" * (MAX_DEPTH + 50) + "\n",
        1,
        MAX_DEPTH + 1,
        [f"nesting deeper than {MAX_DEPTH} levels"],
    ),
    ("two documents", "version: 1\njobs: {}\n---\nversion: 1\n", 3, 1, ["one YAML document"]),
    ("not utf-8", b"version: 1\njobs:\n  caf\xe9: 1\n", 3, 6, ["not valid UTF-8 text (byte 0xe9)"]),
    ("binary file", bytes(range(256)) * 4, 2, 118, ["not valid UTF-8 text (byte 0x80)"]),
    ("nul byte", b"version: 1\x00\n", 1, 11, ["character U+0000 is not allowed"]),
    ("control char", b"version: 1\njobs: {}\x07\n", 2, 9, ["character U+0007 is not allowed"]),
    ("control char after non-ascii", "version: 1\njobs: {éé: \x07}\n", 2, 12, ["U+0007"]),
]


@pytest.mark.parametrize(
    ("content", "line", "column", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input_is_a_positioned_problem(
    pure: bool,
    write_specs: WriteSpecs,
    content: str | bytes,
    line: int,
    column: int,
    fragments: list[str],
) -> None:
    directory = write_specs({"bad.yaml": content})
    with pytest.raises(SpecError) as caught:
        load_specs(directory, pure=pure)
    problems = caught.value.problems
    assert all(p.file == "specs/bad.yaml" for p in problems)
    matching = [p for p in problems if all(f in str(p) for f in fragments)]
    assert matching, [str(p) for p in problems]
    assert (matching[0].line, matching[0].column) == (line, column), str(matching[0])


def test_tags_are_never_run(pure: bool, write_specs: WriteSpecs) -> None:
    content = HEAD + "  a: !!python/object/apply:os.system ['touch pwned']\n"
    with pytest.raises(SpecError):
        load_specs(write_specs({"a.yaml": content}), pure=pure)
    assert not Path("pwned").exists()


def test_unknown_top_level_key_suggests(write_specs: WriteSpecs) -> None:
    _, problems = collect_problems(write_specs({"a.yaml": "versoin: 1\njobs: {}\n"}))
    assert [str(p) for p in problems] == [
        "specs/a.yaml:1:1: unknown top-level key `versoin` (did you mean `version`?)",
        "specs/a.yaml:1:1: missing `version` (start the file with `version: 1`)",
    ]


def test_a_newer_version_hides_its_jobs_problems(write_specs: WriteSpecs) -> None:
    content = "version: 2\njobs:\n  a: {source: c4d8, new_field: 1}\n"
    _, problems = collect_problems(write_specs({"a.yaml": content}))
    assert len(problems) == 1


def test_several_problems_in_one_job_are_all_reported(write_specs: WriteSpecs) -> None:
    content = HEAD + "  a:\n    source: xyz\n    original: never\n    overrides: {name: 5}\n"
    _, problems = collect_problems(write_specs({"a.yaml": content}))
    assert [(p.line, p.column) for p in problems] == [(4, 13), (5, 15), (6, 23)]


def test_file_over_the_size_limit_is_refused_unread(write_specs: WriteSpecs) -> None:
    directory = write_specs({"big.yaml": ""})
    with (directory / "big.yaml").open("wb") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    problem = only_problem(collect_problems(directory)[1])
    assert (problem.file, problem.line, problem.column) == ("specs/big.yaml", 1, 1)
    assert "over the 5 MB limit" in problem.message


def test_file_at_the_size_limit_is_read(
    write_specs: WriteSpecs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobspec.spec.loading, "MAX_FILE_BYTES", 4096)
    body = HEAD + f"  a: {{source: {SOURCE}}}\n"
    content = body + "#" * (4096 - len(body) - 1) + "\n"
    assert list(load_specs(write_specs({"a.yaml": content}))) == ["a"]
    with (Path("specs") / "a.yaml").open("a") as stream:
        stream.write("\n")
    problem = only_problem(collect_problems(Path("specs"))[1])
    assert problem.message == "file is 4,097 bytes, over the 4,096-byte limit for a spec file"


def test_aliases_within_the_limit_are_fine(write_specs: WriteSpecs) -> None:
    content = HEAD + f"  a: &job {{source: {SOURCE}}}\n  b: *job\n"
    assert list(load_specs(write_specs({"a.yaml": content}))) == ["a", "b"]


# --- the directory ----------------------------------------------------------------------------


def test_missing_directory(write_specs: WriteSpecs) -> None:
    problem = only_problem(collect_problems(Path("nowhere"))[1])
    assert str(problem) == "nowhere:1:1: spec directory nowhere/ does not exist"


def test_directory_without_spec_files(write_specs: WriteSpecs) -> None:
    directory = write_specs({"README.md": "# specs\n"})
    (directory / "sub").mkdir()
    (directory / "sub" / "a.yaml").write_text(HEAD)
    problem = only_problem(collect_problems(directory)[1])
    assert str(problem) == "specs:1:1: no *.yaml spec files in specs/"


def test_a_file_instead_of_a_directory(write_specs: WriteSpecs) -> None:
    directory = write_specs({"a.yaml": HEAD})
    problem = only_problem(collect_problems(directory / "a.yaml")[1])
    assert problem.message == "specs/a.yaml is not a directory"


def test_unreadable_file(write_specs: WriteSpecs, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = write_specs({"a.yaml": HEAD})

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)  # chmod does not stop root, who runs CI
    problem = only_problem(collect_problems(directory)[1])
    assert str(problem) == "specs/a.yaml:1:1: cannot read the file: Permission denied"


def test_problems_are_in_file_then_position_order(write_specs: WriteSpecs) -> None:
    directory = write_specs(
        {
            "b.yaml": HEAD + "  x:\n    source: 1\n",
            "a.yml": "jobs: {}\nversion: 3\n",
            "c.yaml": "- 1\n",
        }
    )
    problems = collect_problems(directory)[1]
    assert [(p.file, p.line) for p in problems] == [
        ("specs/a.yml", 2),
        ("specs/b.yaml", 4),
        ("specs/c.yaml", 1),
    ]


def test_load_specs_returns_jobspec_values(tmp_path: Path) -> None:
    shutil.copytree(DATA / "specs-valid", tmp_path / "specs")
    desired = load_specs(tmp_path / "specs")
    assert all(isinstance(job.spec, JobSpec) for job in desired.values())
    assert all(job.address == address for address, job in desired.items())


# --- enums stay enums -------------------------------------------------------------------------


def test_loaded_values_are_enum_members_and_the_body_isis_plain_json(
    write_specs: WriteSpecs,
) -> None:
    job = (
        f"  a:\n    source: {SOURCE}\n    original: keep\n    overrides:\n"
        "      schedule: {mode: ad-hoc}\n"
        "      transfer: {transfer_type: move, delete_propagation: mirror, permissions: add}\n"
    )
    spec = load_specs(write_specs({"a.yaml": HEAD + job}))["a"].spec
    assert spec.original is OriginalPolicy.keep
    assert spec.overrides.schedule is not None
    assert spec.overrides.schedule.mode is ScheduleMode.ad_hoc
    transfer = spec.overrides.transfer
    assert transfer is not None and transfer.transfer_type is TransferType.move
    assert transfer.delete_propagation == [DeletePropagation.mirror]
    assert transfer.delete_propagation[0] is DeletePropagation.mirror
    assert transfer.permissions is not None
    assert transfer.permissions.policy is PermissionPolicy.add
    # messages show the value, never `OriginalPolicy.keep`
    assert f"original: {spec.original}, mode {spec.overrides.schedule.mode}" == (
        "original: keep, mode ad-hoc"
    )
    body = spec.managed_body()
    assert body == {
        "schedule": {"mode": "ad-hoc"},
        "transfer": {
            "transfer_type": "move",
            "delete_propagation": ["mirror"],
            "permissions": {"policy": "add"},
        },
    }
    assert is_plain_json(body)


@pytest.mark.parametrize("escaped", ["x\\Ny", "x\\Ly", "x\\ty", "x\\x7fy"])
def test_fmt_keeps_values_holding_line_breaks_or_controls_exactly(escaped: str) -> None:
    """`jobspec fmt` once re-emitted "x\\Ny" single-quoted with a raw NEL, which YAML folds
    into a space: formatting changed the value. Such values stay double-quoted now."""
    text = (
        f"version: 1\njobs:\n  a:  # the job\n    source: {SOURCE}\n"
        f'    overrides:\n      name: "{escaped}"\n'
    )
    formatted = format_spec_text(text)
    reader = YAML(typ="safe")
    assert reader.load(formatted) == reader.load(text)
    assert "# the job" in formatted
    assert format_spec_text(formatted) == formatted
