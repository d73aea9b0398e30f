"""Kills: the process dies at the worst moments, and the next apply finishes without a duplicate.

- In process: the apply "dies" (a BaseException, which nothing catches) right after a clone
  call's completion is journaled: the clone id must already be in state at that point. The
  death is injected by handing the apply a store whose sessions die (no patching).
- Over real processes: `jobspec apply` is SIGKILLed at seeded random moments on a 100+ spec
  workload and re-run after each kill; no clone is ever made twice. The default run does a
  short round; the full campaign (50+ kills) is `./scripts/test -m slow -k kill_campaign`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from jobspec.state import StateSession, StateStore
from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle
from tests.reliability.campaign import duplicate_clones, kill_round, workload

KILL_SPECS = 120
CAMPAIGN_KILLS = 50


class Killed(BaseException):
    """The process died here (nothing in jobspec catches a BaseException)."""


class DiesAfterCloneCompletes:
    """A state session that dies right after the first clone intent is journaled as done."""

    def __init__(self, session: StateSession) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def complete(self, intent: Any, **change: Any) -> None:
        self._session.complete(intent, **change)
        if intent.op == "clone":
            raise Killed


class DyingStore:
    """A store whose locked sessions die right after a clone completes (see above)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def lock(self, **kwargs: Any) -> Iterator[Any]:
        with self._store.lock(**kwargs) as session:
            yield DiesAfterCloneCompletes(session)


# A simulated death abandons the event loop's other coroutines, as a real one would.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_death_right_after_a_clone_completes_leaves_the_clone_in_state(ws: Workspace) -> None:
    workload(ws, 3, seed=1)
    # the applier's task group carries the death out, wrapped as a group
    with pytest.raises(BaseExceptionGroup) as died:
        ws.apply_on(DyingStore(ws.store()), concurrency=1)
    assert died.group_contains(Killed)
    assert ws.emulator.stats()["requests"]["POST /v1/jobs/{id}/clone"] == 1
    assert len(ws.state()) == 1, "the clone that was made is not in state"
    ws.cli("apply", "--auto-approve")
    assert ws.emulator.stats()["requests"]["POST /v1/jobs/{id}/clone"] == 3
    ws.assert_converged()


def test_sigkill_at_random_moments_never_duplicates_a_clone(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    record = kill_round(tmp_path, emulator, seed=7, specs=KILL_SPECS, kills=3)
    assert record.kills >= 1
    assert record.converged and record.duplicates == 0
    # a run killed after its first progress line held the lock: the next run reports it
    assert record.stale_locks_reported >= sum(1 for lines in record.kill_points if lines > 0)


@pytest.mark.slow
def test_kill_campaign(tmp_path: Path, emulator: EmulatorHandle) -> None:
    kills = rounds = 0
    seed = 100
    while kills < CAMPAIGN_KILLS:
        record = kill_round(tmp_path, emulator, seed=seed, specs=KILL_SPECS, kills=4)
        assert record.converged and not duplicate_clones(emulator)
        kills += record.kills
        rounds += 1
        seed += 1
    assert kills >= CAMPAIGN_KILLS
