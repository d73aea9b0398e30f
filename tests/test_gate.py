"""The gate's decisions, one table: every mutating step's target against specs, state, seen."""

from __future__ import annotations

import pytest

from jobspec.gate import Ground, not_new, refusal
from jobspec.model import RetireHow, StateEntry
from jobspec.plan import Step, StepOp

A_SRC, A_CLONE, A_OLD = "a" * 32, "a1" * 16, "a2" * 16
B_SRC, B_CLONE = "b" * 32, "b1" * 16
STRANGER = "c" * 32


def _entry(source: str, clone: str, *, superseded: tuple[str, ...] = ()) -> StateEntry:
    return StateEntry(
        source_id=source,
        clone_id=clone,
        original="delete",
        applied={},
        applied_digest="x",
        superseded=list(superseded),
    )


ENTRIES = {"a": _entry(A_SRC, A_CLONE, superseded=(A_OLD,)), "b": _entry(B_SRC, B_CLONE)}
SPECS: dict[str, str] | None = {"a": A_SRC, "b": B_SRC}
NO_SPECS = None


def _clone(job: str) -> Step:
    return Step(op=StepOp.clone, job_id=job, role="source", body={"name": "x"})


def _patch(job: str) -> Step:
    return Step(op=StepOp.patch, job_id=job, role="clone", body={})


def _retire(job: str, role: str = "original") -> Step:
    return Step(op=StepOp.retire, job_id=job, role=role, how=RetireHow.deleted)  # type: ignore[arg-type]


def _cutover(op: StepOp, job: str, role: str) -> Step:
    return Step(op=op, job_id=job, role=role, body={})  # type: ignore[arg-type]


CASES = [
    # a verified cutover's calls: start and await_run at the clone, hold and restore at the original
    (
        "start of the recorded clone",
        "a",
        _cutover(StepOp.start, A_CLONE, "clone"),
        SPECS,
        ENTRIES,
        False,
    ),
    (
        "start of another address's clone",
        "a",
        _cutover(StepOp.start, B_CLONE, "clone"),
        SPECS,
        ENTRIES,
        True,
    ),
    (
        "await (may park) a stranger",
        "a",
        _cutover(StepOp.await_run, STRANGER, "clone"),
        SPECS,
        ENTRIES,
        True,
    ),
    (
        "hold of the original",
        "a",
        _cutover(StepOp.hold, A_SRC, "original"),
        SPECS,
        ENTRIES,
        False,
    ),
    (
        "hold of another spec's source",
        "a",
        _cutover(StepOp.hold, B_SRC, "original"),
        SPECS,
        ENTRIES,
        True,
    ),
    (
        "restore of a stranger",
        "a",
        _cutover(StepOp.restore, STRANGER, "original"),
        SPECS,
        ENTRIES,
        True,
    ),
    (
        "restore of the original",
        "a",
        _cutover(StepOp.restore, A_SRC, "original"),
        SPECS,
        ENTRIES,
        False,
    ),
    # (name, address, step, the spec files' sources, entries, refused?)
    ("clone of the spec's source", "a", _clone(A_SRC), SPECS, ENTRIES, False),
    ("clone of the recorded clone (source gone)", "a", _clone(A_CLONE), SPECS, ENTRIES, False),
    ("clone of another spec's source", "a", _clone(B_SRC), SPECS, ENTRIES, True),
    ("clone of a stranger", "a", _clone(STRANGER), SPECS, {}, True),
    ("first clone, no spec files: nothing justifies it", "a", _clone(A_SRC), NO_SPECS, {}, True),
    ("replace without spec files: state's source", "a", _clone(A_SRC), NO_SPECS, ENTRIES, False),
    ("patch of the recorded clone", "a", _patch(A_CLONE), SPECS, ENTRIES, False),
    ("patch of another address's clone", "a", _patch(B_CLONE), SPECS, ENTRIES, True),
    ("patch of a stranger", "a", _patch(STRANGER), SPECS, ENTRIES, True),
    ("patch with no entry", "a", _patch(A_CLONE), SPECS, {}, True),
    ("delete of the original", "a", _retire(A_SRC), SPECS, ENTRIES, False),
    ("delete of the original, no spec files", "a", _retire(A_SRC), NO_SPECS, ENTRIES, False),
    ("delete of another spec's source", "a", _retire(B_SRC), SPECS, ENTRIES, True),
    ("delete of a stranger as original", "a", _retire(STRANGER), SPECS, ENTRIES, True),
    (
        "delete of an original the spec no longer names",
        "a",
        _retire(A_SRC),
        {"a": STRANGER, "b": B_SRC},
        ENTRIES,
        True,
    ),
    (
        "delete of an original that is another address's clone",
        "b",
        _retire(A_CLONE),
        {"a": A_SRC, "b": A_CLONE},
        {"a": ENTRIES["a"], "b": _entry(A_CLONE, B_CLONE)},
        True,
    ),
    (
        "delete of its original when its recorded clone is another spec's source",
        "b",
        _retire(B_SRC),
        SPECS,
        {"b": _entry(B_SRC, A_SRC)},
        True,
    ),
    ("delete of a replaced clone", "a", _retire(A_OLD, "old_clone"), SPECS, ENTRIES, False),
    ("delete of another's clone as old", "a", _retire(B_CLONE, "old_clone"), SPECS, ENTRIES, True),
    ("delete of a stranger as old", "a", _retire(STRANGER, "old_clone"), SPECS, ENTRIES, True),
    ("prune of the recorded clone", "a", _retire(A_CLONE, "clone"), NO_SPECS, ENTRIES, False),
    ("prune of a spec's source", "a", _retire(B_SRC, "clone"), SPECS, ENTRIES, True),
    ("retire of a source role", "a", _retire(A_SRC, "source"), SPECS, ENTRIES, True),
    ("verify is no call", "a", Step(op=StepOp.verify, role="clone"), SPECS, {}, False),
]


@pytest.mark.parametrize(
    ("address", "step", "sources", "entries", "refused"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_gate_table(
    address: str,
    step: Step,
    sources: dict[str, str] | None,
    entries: dict[str, StateEntry],
    refused: bool,
) -> None:
    ground = Ground.of(sources=sources, entries=entries)
    why = refusal(address=address, step=step, ground=ground, entry=entries.get(address))
    assert (why is not None) == refused, why


NEW_CASES = [
    ("a job nobody knows, made by the call", "d" * 32, None, {}, (), False),
    ("the job it was cloned from", A_SRC, None, {}, (), True),
    ("a job seen before the call", STRANGER, None, {}, (STRANGER,), True),
    ("a spec's source", B_SRC, SPECS, {}, (), True),
    ("a clone state records", B_CLONE, None, ENTRIES, (), True),
    ("a replaced clone state records", A_OLD, None, ENTRIES, (), True),
    ("a source state records", B_SRC, None, ENTRIES, (), True),
]


@pytest.mark.parametrize(
    ("clone_id", "sources", "entries", "seen", "refused"),
    [case[1:] for case in NEW_CASES],
    ids=[case[0] for case in NEW_CASES],
)
def test_a_clone_is_new_only_if_nobody_knew_it(
    clone_id: str,
    sources: dict[str, str] | None,
    entries: dict[str, StateEntry],
    seen: tuple[str, ...],
    refused: bool,
) -> None:
    ground = Ground.of(sources=sources, entries=entries, seen=frozenset(seen))
    why = not_new(clone_id=clone_id, base_id=A_SRC, ground=ground)
    assert (why is not None) == refused, why


def test_a_clone_this_run_recorded_is_not_new_for_another_address() -> None:
    ground = Ground.of(sources=SPECS, entries={})
    assert not_new(clone_id="d" * 32, base_id=A_SRC, ground=ground) is None
    ground.made.add("d" * 32)
    assert not_new(clone_id="d" * 32, base_id=B_SRC, ground=ground) is not None


def test_a_moved_clone_is_its_new_address_s_only_when_a_spec_says_moved_from() -> None:
    """`moved_from:` hands the old address's clone to the new one; nothing else does."""
    moved = {"ledger": ENTRIES["a"]}  # the entry as the move step leaves it
    rename = _patch(A_CLONE)
    without = Ground.of(sources={"ledger": A_SRC}, entries=ENTRIES)
    assert refusal(address="ledger", step=rename, ground=without, entry=moved["ledger"])
    ground = Ground.of(sources={"ledger": A_SRC}, entries=ENTRIES, moves={"a": "ledger"})
    assert refusal(address="ledger", step=rename, ground=ground, entry=moved["ledger"]) is None
    assert refusal(address="ledger", step=_patch(B_CLONE), ground=ground, entry=moved["ledger"])
