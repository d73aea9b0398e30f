"""Golden files for every command's output other than plans (those are in tests/render).

Each golden file holds one command's views for a few fixed inputs, with stdout and stderr
marked apart, so a changed word in any message shows up in review.
Regenerate after an intended change with `JOBSPEC_UPDATE_GOLDEN=1 pytest tests/views`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobspec import views
from jobspec.applier import ApplyResult
from jobspec.drift import Drift, DriftKind
from jobspec.errors import Problem
from jobspec.model import OriginalPolicy, RetireHow, StateEntry, digest
from jobspec.state import Intent, LockInfo, State, Transfer

GOLDEN = Path(__file__).parent / "golden"
SOURCE, CLONE = "c4d8c04a69224ef0bfaa2f8e920b8792", "0f3a" + "e" * 28
LINEAGE = "5f0c2a4e-6f7d-4b1e-9a55-0d1e2f3a4b5c"
HOLDER = LockInfo(
    id="7b1e", holder="ci@runner-3", host="runner-3", pid=4242, operation="apply",
    created_at="2026-11-29T06:00:00Z",
)  # fmt: skip


def entry(**changes: object) -> StateEntry:
    base = StateEntry(
        source_id=SOURCE,
        clone_id=CLONE,
        original=OriginalPolicy.manual,
        applied={"name": "Finance archive"},
        applied_digest=digest({"name": "Finance archive"}),
        original_retired=RetireHow.manual,
    )
    return base.model_copy(update=changes)


def shown(*cases: tuple[str, views.Screen]) -> str:
    """Each case's stdout and stderr, under headers, in one text."""
    parts = []
    for title, screen in cases:
        parts.append(f"=== {title}\n--- stdout\n{screen.out}--- stderr\n{screen.err}")
    return "\n".join(parts)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("JOBSPEC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


PROBLEMS = [
    Problem(
        "specs/finance.yaml",
        13,
        9,
        "jobs.finance-archive.overrides.transfer: unknown key `lock_propogation`",
        hint="did you mean `lock_propagation`?",
    ),
    Problem("specs/hr, 2026.yaml", 2, 1, "100% wrong:\nsecond line"),
]


def test_validate() -> None:
    def problems(output_format: str) -> views.Screen:
        return views.validate_report(
            jobs=0, files=0, problems=PROBLEMS, output_format=output_format
        )

    check_golden(
        "validate.txt",
        shown(
            ("clean", views.validate_report(jobs=4, files=2, problems=[], output_format="text")),
            ("one", views.validate_report(jobs=1, files=1, problems=[], output_format="text")),
            ("text", problems("text")),
            ("github", problems("github")),
            ("spec problems before a plan", views.spec_problems(PROBLEMS)),
        ),
    )  # fmt: skip


def test_apply() -> None:
    ok = ApplyResult()
    ok.counts.update(created=2, updated=1, unchanged=3)
    failed = ApplyResult()
    failed.counts.update(created=1, failed=2)
    failed.failures.extend([("finance", "HTTP 500 from POST v1/jobs/…/clone"), ("hr", "timeout")])
    pending = [
        Intent(intent_id="i1", address="finance", op="clone", details={}, started_at=0.0),
        Intent(intent_id="i2", address="hr", op="delete", details={}, started_at=0.0),
    ]
    check_golden(
        "apply.txt",
        shown(
            ("complete", views.apply_summary(ok)),
            ("with failures", views.apply_summary(failed)),
            ("waiting for the lock", views.lock_waiting(HOLDER)),
            ("plan notes interrupted calls", views.interrupted_notes(pending)),
            ("plan --out", views.plan_saved("plan.json")),
            ("interrupted at the question", views.apply_interrupted(
                "SIGINT", steps=0, finished=0, total=None, saved_plan=False)),
            ("interrupted halfway", views.apply_interrupted(
                "SIGTERM", steps=5, finished=2, total=4, saved_plan=False)),
            ("interrupted halfway through a saved plan", views.apply_interrupted(
                "SIGINT", steps=1, finished=0, total=3, saved_plan=True)),
        ),
    )  # fmt: skip


def test_state() -> None:
    state = State(
        lineage=LINEAGE,
        serial=7,
        entries={
            "hr": entry(original=OriginalPolicy.delete, original_retired=RetireHow.deleted),
            "finance": entry(),
            "sales": entry(original=OriginalPolicy.keep, original_retired=None),
        },
    )
    before_empty = State()
    copied = State(lineage=LINEAGE, serial=9, entries={"finance": entry()})
    older = State(lineage="1" * 8, serial=3)
    check_golden(
        "state.txt",
        shown(
            ("list", views.state_list(state)),
            ("list, empty", views.state_list(State())),
            ("show", views.state_entry(entry())),
            ("rm", views.state_forgotten("finance", CLONE)),
            ("push into an empty state", views.state_copied(
                "jobspec.state.json", "postgresql://db/jobspec?workspace=default",
                Transfer(before=before_empty, after=copied))),
            ("pull over an older state", views.state_copied(
                "postgresql://db/jobspec?workspace=default", "jobspec.state.json",
                Transfer(before=older, after=copied))),
            ("already there", views.state_copied(
                "a.json", "b.json", Transfer(before=copied, after=None))),
            ("import", views.imported("finance", entry())),
            ("unlock", views.lock_broken(HOLDER)),
        ),
    )  # fmt: skip


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_drift(output_format: str) -> None:
    found = [
        Drift("finance", DriftKind.server, 'transfer.conflict_resolution: clone has "copy"'),
        Drift("hr", DriftKind.source, "transfer.transfer_type: source now says sync"),
    ]
    check_golden(
        f"drift.{output_format}.txt",
        shown(
            ("none", views.drift_report([], output_format=output_format)),
            ("two findings", views.drift_report(found, output_format=output_format)),
        ),
    )


def test_fmt() -> None:
    changed = [Path("specs/finance.yaml"), Path("specs/hr.yaml")]
    check_golden(
        "fmt.txt",
        shown(
            ("rewrote", views.fmt_report(changed, check=False)),
            ("check", views.fmt_report(changed, check=True)),
            ("check, clean", views.fmt_report([], check=True)),
        ),
    )


def test_counts() -> None:
    assert views.count(1, "job") == "1 job"
    assert views.count(0, "address") == "0 addresses"
    assert views.count(12345, "file") == "12,345 files"


def test_waiting_cutovers_are_listed_after_the_summary_and_in_json() -> None:
    result = ApplyResult()
    result.counts["created"] = 1
    result.waiting.append(("finance", "waiting for clone c0ffee first run (running, 45%)"))
    screen = views.apply_summary(result)
    assert screen.out.splitlines()[1:] == [
        "1 verified cutover(s) wait for their clone's first run; a later apply (or "
        "`apply --wait DURATION`) retires their originals:",
        "  waiting: finance: waiting for clone c0ffee first run (running, 45%)",
    ]
    fields = views.apply_result_fields(result)
    assert fields["ok"] is True
    assert fields["waiting"] == [
        {"address": "finance", "cutover": "waiting for clone c0ffee first run (running, 45%)"}
    ]
    assert "waiting" not in views.apply_result_fields(ApplyResult())
