"""One way for every store to wait for its lock: retry a non-blocking try-lock until a deadline.

Modelled on Terraform's `statemgr.LockWithContext`: a backend supplies one attempt, and this
loop owns the waiting (backoff from 10 ms doubling to 250 ms, never past the deadline), the one
`on_wait(holder)` call when it starts waiting, and the error naming the holder when time is
up. Timeout 0 tries once. A store may ask for `grace` seconds more for a holder it knows is
going away (PostgreSQL: a dead process's session that has not ended yet); `on_wait` is not
called during that grace, since there is nothing to report yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from jobspec.state.values import LockInfo

__all__ = ["wait_for_lock"]

Busy = TypeVar("Busy")
Won = TypeVar("Won")

FIRST_DELAY = 0.01
MAX_DELAY = 0.25


def wait_for_lock(
    attempt: Callable[[], tuple[Busy | None, Won | None]],
    *,
    timeout: float,
    locked_error: Callable[[Busy], BaseException],
    holder: Callable[[Busy], LockInfo | None],
    on_wait: Callable[[LockInfo], None] | None = None,
    grace: Callable[[Busy], float] = lambda busy: 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Won:
    """What `attempt` won, once it wins; raises `locked_error(busy)` when `timeout` is up.

    `attempt()` returns (busy, None) while the lock is held, (None, None) when it raced with
    a release (tried again at once), and (None, won) on success. `holder(busy)` is who to
    name to `on_wait` (None: not known yet, so wait to say). `grace(busy)` is asked until it
    first gives a positive number of seconds; until then, and after, the deadline stands.
    """
    deadline = clock() + timeout
    grace_until: float | None = None
    delay = FIRST_DELAY
    waited = False
    while True:
        busy, won = attempt()
        if won is not None:
            return won
        if busy is None:
            continue  # raced with a release; the lock changed under us
        now = clock()
        if grace_until is None:
            extra = grace(busy)
            if extra > 0:
                grace_until = now + extra
        remaining = max(deadline, grace_until or 0) - now
        if remaining <= 0:
            raise locked_error(busy)
        named = holder(busy)
        if not waited and on_wait is not None and named is not None and now >= (grace_until or 0):
            on_wait(named)
            waited = True
        sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_DELAY)
