"""The one lock-wait loop both stores use, driven by a fake clock: no wall time passes."""

from __future__ import annotations

import pytest

from jobspec.errors import LockError
from jobspec.state.lockwait import wait_for_lock
from jobspec.state.values import LockInfo

HOLDER = LockInfo(id="L", holder="h", host="here", pid=1, operation="apply", created_at="t")


class Clock:
    """A clock that moves only when the loop sleeps; it records each sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(
    results: list[tuple[str | None, str | None]],
    *,
    timeout: float,
    grace: float = 0.0,
    holder: LockInfo | None = HOLDER,
) -> tuple[str, Clock, list[LockInfo], int]:
    clock = Clock()
    waits: list[LockInfo] = []
    calls = 0

    def attempt() -> tuple[str | None, str | None]:
        nonlocal calls
        calls += 1
        return results[min(calls, len(results)) - 1]

    won = wait_for_lock(
        attempt,
        timeout=timeout,
        locked_error=lambda busy: LockError(f"locked by {busy}"),
        holder=lambda busy: holder,
        on_wait=waits.append,
        grace=lambda busy: grace,
        clock=clock,
        sleep=clock.sleep,
    )
    return won, clock, waits, calls


BUSY = ("someone", None)
RACE = (None, None)
WON = (None, "mine")


@pytest.mark.parametrize(
    ("results", "timeout", "calls", "sleeps", "waits"),
    [
        ([WON], 0, 1, [], 0),  # free: taken at once, no waiting said
        ([RACE, WON], 0, 2, [], 0),  # a race is tried again at once, even with no timeout
        ([BUSY, BUSY, WON], 10, 3, [0.01, 0.02], 1),  # on_wait once, backoff doubles
        ([BUSY] * 8 + [WON], 10, 9, [0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25, 0.25], 1),
    ],
)
def test_waits_with_backoff_until_it_wins(
    results: list[tuple[str | None, str | None]],
    timeout: float,
    calls: int,
    sleeps: list[float],
    waits: int,
) -> None:
    won, clock, said, tried = run(results, timeout=timeout)
    assert (won, tried, clock.sleeps, len(said)) == ("mine", calls, sleeps, waits)


def test_timeout_zero_fails_at_once_naming_the_holder() -> None:
    with pytest.raises(LockError, match="locked by someone"):
        run([BUSY], timeout=0)


def test_gives_up_at_the_deadline_without_sleeping_past_it() -> None:
    clock = Clock()
    with pytest.raises(LockError):
        wait_for_lock(
            lambda: BUSY,
            timeout=0.1,
            locked_error=lambda busy: LockError(busy),
            holder=lambda busy: HOLDER,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == [0.01, 0.02, 0.04, pytest.approx(0.03)]  # the last one shortened
    assert clock.now == pytest.approx(100.1)


def test_an_unknown_holder_is_not_announced() -> None:
    _, _, said, _ = run([BUSY, BUSY, WON], timeout=10, holder=None)
    assert said == []


@pytest.mark.parametrize(
    ("timeout", "busy", "said"),
    [
        (0, 20, []),  # won within the grace (4.06 s of 5): nothing to report
        (10, 30, [HOLDER]),  # still held after the grace: said once it was over
    ],
)
def test_grace_extends_the_deadline_and_holds_back_on_wait(
    timeout: float, busy: int, said: list[LockInfo]
) -> None:
    clock = Clock()
    waits: list[LockInfo] = []
    results = iter([BUSY] * busy + [WON])
    won = wait_for_lock(
        lambda: next(results),
        timeout=timeout,
        locked_error=lambda busy: LockError(busy),
        holder=lambda busy: HOLDER,
        on_wait=waits.append,
        grace=lambda busy: 5.0,
        clock=clock,
        sleep=clock.sleep,
    )
    assert (won, waits) == ("mine", said)


def test_grace_ends_in_the_holders_error_if_it_never_goes() -> None:
    with pytest.raises(LockError):
        run([BUSY], timeout=0, grace=1.0)
