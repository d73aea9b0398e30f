"""Hostile specs (`tests/data/bad-specs/`, one directory per case, plus a 50 MB file made at
test time): `validate` and `plan` both exit 1 with every problem as file:line:column, no
traceback, and `plan` makes no API request at all.

The spec loader's hypothesis fuzzing lives in `tests/spec/test_fuzz.py` (any bytes, YAML-ish
token soup, dump → load round trips, agreement with ruamel's safe loader); not repeated here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace
from tests.reliability.campaign import BAD_SPECS, bad_input_trial, write_huge_spec

# case → (file, line) of every problem, and a fragment of the first message
EXPECTED: dict[str, tuple[list[tuple[str, int]], str]] = {
    "malformed-yaml": ([("jobs.yaml", 7)], "YAML syntax"),
    "tabs": ([("jobs.yaml", 4)], "found character that cannot start any token"),
    "duplicate-keys": ([("jobs.yaml", 8)], "duplicate key `name` (first at line 7)"),
    "wrong-types": (
        [("jobs.yaml", 6), ("jobs.yaml", 7), ("jobs.yaml", 8), ("jobs.yaml", 10)],
        "expected a string, not a list",
    ),
    "unknown-enum": (
        [("jobs.yaml", 5), ("jobs.yaml", 8), ("jobs.yaml", 9), ("jobs.yaml", 10)],
        "'dlete' is not one of: manual, delete, keep",
    ),
    "unknown-keys": ([("jobs.yaml", 5), ("jobs.yaml", 8)], "unknown key `orignal`"),
    "duplicate-address": ([("b.yaml", 5)], "duplicate address `finance-archive`"),
    "empty-file": ([("empty.yaml", 1)], "empty spec file"),
    "no-specs": ([("no-specs", 1)], "no *.yaml spec files"),
    "alias-bomb": ([("jobs.yaml", 7)], "expands to more than 1,000,000 values"),
    "non-utf8": ([("jobs.yaml", 6)], "not valid UTF-8 text (byte 0xfc)"),
    "binary-file": ([("logo.yaml", 1)], "not valid UTF-8 text"),
    "bad-source-id": (
        [("jobs.yaml", 4), ("jobs.yaml", 6), ("jobs.yaml", 8), ("jobs.yaml", 10)],
        "'not-a-job-id' is not a job id",
    ),
}


def test_the_corpus_and_the_table_agree() -> None:
    assert sorted(path.name for path in BAD_SPECS.iterdir() if path.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_hostile_specs_fail_cleanly_before_any_request(ws: Workspace, case: str) -> None:
    trial = bad_input_trial(ws, BAD_SPECS / case)
    problems, message = EXPECTED[case]
    assert (trial.validate_exit, trial.plan_exit) == (1, 1)
    assert trial.problems == problems
    assert message in trial.first_message
    assert trial.requests == 0


def test_a_50_mb_spec_is_refused_unread(ws: Workspace, tmp_path: Path) -> None:
    huge = write_huge_spec(tmp_path / "huge")
    assert huge.stat().st_size >= 50 * 1024 * 1024
    trial = bad_input_trial(ws, huge.parent)
    assert (trial.validate_exit, trial.plan_exit) == (1, 1)
    assert trial.problems == [("huge.yaml", 1)]
    assert "over the 5 MB limit" in trial.first_message
    assert trial.requests == 0
