"""The crash matrix: cut a multi-spec apply at every mutating step, two ways, and re-run.

1. SIGKILL: a real `jobspec apply` process is killed while its k-th mutating call is in
   flight (the emulator holds each request for a while before doing it, so the kill lands
   after the intent is journaled and before the server acts; the server then still acts).
2. Drop-after-commit: the emulator performs the k-th call of a route, then closes the
   connection without a reply, so jobspec cannot know it happened.
After the re-run the emulator holds exactly one live clone per address, every original is
retired per its policy, and the state matches the server.
"""

from __future__ import annotations

import signal

import pytest

from tests.e2e.conftest import Workspace, standard_specs
from tests.helpers import wait_for

MUTATING_OPS = {"clone", "patch", "retire_manual", "retire_deleted"}
# standard_specs applies 3 clones, 1 patch (finance's original → manual) and 1 delete (hr's)
STEPS = 5
HOLD_MS = 300


def mutating_intents(ws: Workspace) -> int:
    records = ws.journal_records()
    return sum(r.get("kind") == "intent" and r.get("op") in MUTATING_OPS for r in records)


@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_sigkill_during_mutating_step(ws: Workspace, step: int) -> None:
    standard_specs(ws)
    ws.emulator.faults(latency_ms=HOLD_MS)
    process = ws.spawn("apply", "--auto-approve", "--concurrency", "1")
    try:
        wait_for(
            lambda: mutating_intents(ws) >= step or process.poll() is not None,
            what=f"mutating step {step}",
            seconds=30,
        )
        assert process.poll() is None, "apply finished before the step: " + process.stderr.read()
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    ws.emulator.faults(latency_ms=0)
    rerun = ws.cli("apply", "--auto-approve")
    # the dead run's lock is reported, naming it, and taken over
    assert f"pid {process.pid}" in rerun.stderr
    ws.assert_converged()


ROUTE_CALLS = [
    ("POST /v1/jobs/{id}/clone", 0),
    ("POST /v1/jobs/{id}/clone", 1),
    ("POST /v1/jobs/{id}/clone", 2),
    ("PATCH /v1/jobs/{id}", 0),
    ("DELETE /v1/jobs/{id}", 0),
]


@pytest.mark.parametrize(("route", "after"), ROUTE_CALLS)
def test_reply_lost_after_commit(ws: Workspace, route: str, after: int) -> None:
    standard_specs(ws)
    ws.emulator.faults(targets=[{"route": route, "fault": "drop", "after": after, "count": 1}])
    result = ws.cli("apply", "--auto-approve", "--concurrency", "1", expect=None)
    assert result.exit_code in (0, 1), result.stderr
    if result.exit_code:
        ws.cli("apply", "--auto-approve")
    ws.assert_converged()
    assert ws.emulator.stats()["requests"]["POST /v1/jobs/{id}/clone"] == 3
