"""The one limiter of a client's run: requests in flight, and the pause every slot keeps.

`Limiter` carries out what `_pace.on_answer` decides: a request takes a slot (`acquire`),
waits out a pause the server asked for, and hands its answer back (`release`), which moves
the limit. Waiters are served in order, so a refused request does not starve behind others.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable

from jobspec.client._pace import REFUSALS, Pace, on_answer

WINDOW = 1.0  # seconds: the server's answering rate is measured over the last one


class Limiter:
    """Adaptive bound on the requests in flight; `ceiling` is `--concurrency`."""

    def __init__(
        self,
        ceiling: int,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.pace = Pace.start(ceiling)
        self._clock = clock
        self._sleep = sleep
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.answers = 0  # answers from the server (refusals included)
        self._answers_at_first_refusal = 0
        self._next_send = -math.inf  # when the rate cap lets the next request go
        self._window_start = clock()  # since the last pause: what the server answered
        self._answered: deque[float] = deque()  # when, within the last WINDOW seconds
        self._busy_since = self._window_start  # since when requests have been in flight

    async def acquire(self, *, waited_until: float = -math.inf) -> float:
        """Take a slot once any pause is over, at the pace's rate; returns the send time.

        `waited_until`: the end of a pause the caller already waited out itself (a refused
        request sleeps its own retry wait), which it need not wait again; such a retry goes
        first, without waiting for the rate cap too.
        """
        now = await self._slot(waited_until)
        if waited_until > -math.inf:
            return now
        cut = self.pace.cut_at
        while True:
            rate, until = self.pace.rate, self.pace.paused_until
            at = max(self._next_send, now, until if until > waited_until else now)
            if rate < math.inf:
                self._next_send = at + 1.0 / rate
            if at <= now:
                return now
            try:
                await self._sleep(at - now)
            except BaseException:
                self._in_flight -= 1
                self._wake()
                raise
            now = self._clock()
            if self.pace.cut_at == cut:
                return now
            cut = self.pace.cut_at  # a refusal while it waited: a new pause, a new pace

    async def _slot(self, waited_until: float) -> float:
        while True:
            until = self.pace.paused_until
            now = self._clock()
            if until > waited_until and until > now:
                await self._sleep(until - now)
                waited_until = until
                continue
            if self._in_flight < self.pace.slots and not self._waiters:
                self._take(now)
                return now
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # woken with a slot already counted for it (`_wake`)
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._in_flight -= 1  # handed a slot it will not use: pass it on
                    self._wake()
                raise
            until = self.pace.paused_until
            now = self._clock()
            if until > waited_until and until > now:  # a pause began while it queued
                try:
                    await self._sleep(until - now)
                except BaseException:
                    self._in_flight -= 1
                    self._wake()
                    raise
                now = self._clock()
            return now

    def release(
        self, *, sent_at: float, status: int | None, retry_after: float | None, backoff: float
    ) -> None:
        """Give the slot back with what the attempt met (`status` None: no answer)."""
        self._in_flight -= 1
        if status is not None:
            self.answers += 1
            before = self.pace
            now = self._clock()
            answered = self._answered
            while answered and answered[0] < now - WINDOW:
                answered.popleft()
            if status not in REFUSALS:
                answered.append(now)
            # Over a whole busy window, the rate the server kept up; over less (a burst it
            # allowed after a pause, or after a lull of ours) it says little: counted as a
            # second's worth, and probed from.
            measured = now - max(self._window_start, self._busy_since) >= WINDOW
            answered_rate = len(answered) / WINDOW
            self.pace = on_answer(
                before,
                status=status,
                sent_at=sent_at,
                now=now,
                retry_after=retry_after,
                backoff=backoff,
                answered_rate=answered_rate,
                measured=measured,
            )
            if self.pace.cut_at != before.cut_at:  # a new pause: measure afresh after it
                self._window_start = self.pace.paused_until
                answered.clear()
            if before.first_refusal is None and self.pace.first_refusal is not None:
                self._answers_at_first_refusal = self.answers - 1
        self._wake()

    def _take(self, now: float) -> None:
        if self._in_flight == 0:  # busy again after a lull: the rate is measured from here
            self._busy_since = now
        self._in_flight += 1

    def _wake(self) -> None:
        free = self.pace.slots - self._in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._take(self._clock())
                free -= 1

    def note(self) -> str | None:
        """What a person should hear when the server throttled this run, else None."""
        pace = self.pace
        if pace.first_refusal is None:
            return None
        elapsed = self._clock() - pace.first_refusal
        answers = self.answers - self._answers_at_first_refusal
        rate = f"; went on at {answers / elapsed:.1f} calls/s" if elapsed > 0.5 else ""
        share = pace.refusals / self.answers if self.answers else 0.0
        cap = f", paced at {pace.rate:.1f} calls/s at the end" if pace.rate < math.inf else ""
        return (
            f"the server throttled this run: {pace.refusals} of {self.answers} calls refused "
            f"({share:.0%}){rate}, down to {max(1, int(pace.lowest))} in flight at the lowest "
            f"(ceiling {pace.ceiling}){cap}"
        )
