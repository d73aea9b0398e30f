"""One way for every store to wait for its lock: retry a non-blocking try-lock until a deadline.

Modelled on Terraform's `statemgr.LockWithContext`: a backend supplies one attempt, and this
loop owns the waiting (backoff from 10 ms doubling to 250 ms, never past the deadline), the one
`on_wait(holder)` call when it starts waiting, and the error naming the holder when time is
up. Timeout 0 tries once. A store may ask for `grace` seconds more for a holder it knows is
going away (PostgreSQL: a dead process's session that has not ended yet); `on_wait` is not
called during that grace, since there is nothing to report yet.

The wait blocks the event loop, so the loop's own signal handling (which only schedules a
cancellation) cannot run: once it waits, Ctrl-C (KeyboardInterrupt) and SIGTERM
(`errors.Stopped`) end it at once (`SignalsEndTheWait`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from jobspec.errors import Stopped
from jobspec.state.values import LockInfo

__all__ = ["SignalsEndTheWait", "wait_for_lock"]


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped("SIGTERM", 143)


class SignalsEndTheWait:
    """While a lock wait blocks the event loop: Ctrl-C or SIGTERM during a pause raises at
    once (nothing is held then); one that lands during an attempt is held until the next
    pause, or, if that attempt won the lock, handed back to the handlers before it (the
    loop's, which cancel the work so that it unwinds and releases the lock). Only on the main
    thread; elsewhere nothing changes."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.sleeping = False
        self.pending: list[int] = []
        self.previous: dict[int, object] = {}

    def install(self) -> None:
        if self.previous or threading.current_thread() is not threading.main_thread():
            return
        for sig in self.SIGNALS:
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.sleeping:
            self.sleeping = False
            _raise_for(signum)
        self.pending.append(signum)

    def pause(self, sleep: Callable[[float], None], seconds: float) -> None:
        if self.pending:
            _raise_for(self.pending.pop(0))
        self.sleeping = True
        try:
            sleep(seconds)
        finally:
            self.sleeping = False

    def restore(self, *, deliver: bool) -> None:
        for sig, handler in self.previous.items():
            # None: a handler not set from Python, which cannot be put back; the default then
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # type: ignore[arg-type]
        if deliver and self.previous:
            for sig in self.pending:
                signal.raise_signal(sig)
        self.previous.clear()
        self.pending.clear()


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
    guard = SignalsEndTheWait()

    def pause(seconds: float) -> None:
        guard.pause(sleep, seconds)

    if timeout > 0:  # before the first attempt: a signal must not slip in before the first pause
        guard.install()
    try:
        won = _wait(
            attempt,
            timeout=timeout,
            locked_error=locked_error,
            holder=holder,
            on_wait=on_wait,
            grace=grace,
            clock=clock,
            pause=pause,
        )
    except BaseException:
        guard.restore(deliver=False)
        raise
    guard.restore(deliver=True)
    return won


def _wait(
    attempt: Callable[[], tuple[Busy | None, Won | None]],
    *,
    timeout: float,
    locked_error: Callable[[Busy], BaseException],
    holder: Callable[[Busy], LockInfo | None],
    on_wait: Callable[[LockInfo], None] | None,
    grace: Callable[[Busy], float],
    clock: Callable[[], float],
    pause: Callable[[float], None],
) -> Won:
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
        pause(min(delay, remaining))
        delay = min(delay * 2, MAX_DELAY)
