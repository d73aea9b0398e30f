"""How many requests may be in flight, and when the next may go: a pure AIMD decision.

One `Pace` holds for the whole client. A refusal (429 or 503) pauses every slot until the time
the server asked (`Retry-After`, else the caller's backoff; at most `MAX_PAUSE`), cuts the
in-flight limit by `DECREASE`, and caps the sending rate at `RATE_DECREASE` of the rate the
server was answering at just before. That happens once per round: only a refusal of a request
sent after the last cut cuts (and pauses) again, since the requests already in flight met the
same overload. Every other answer raises the limit by `1/limit` (about one per round trip) up
to the ceiling (`--concurrency`), and a rate cap by `RATE_STEP/rate` (about `RATE_STEP` calls
a second more each second). A cap set from a short measure (the burst a gateway allows after a
pause says little of its rate) is *probing*: it doubles about every second until the next
refusal, as TCP's slow start does. An attempt without an answer changes nothing.

The rate matters as much as the in-flight limit: against a fast server even one request in
flight can exceed a gateway's calls a second, and each refusal costs a whole `Retry-After`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

REFUSALS = frozenset({429, 503})
DECREASE = 0.5  # the in-flight limit after a refusal, as a share of what it was
RATE_DECREASE = 0.8  # the rate cap after a refusal, as a share of the rate answered before it
RATE_STEP = 1.0  # calls a second the rate cap rises by, about every second
MIN_RATE = 0.5  # calls a second: the lowest rate cap
PROBE_GROWTH = math.log(2)  # a probing cap grows by this share of itself per answer/rate
MAX_PAUSE = 60.0  # seconds: the longest pause a Retry-After can impose on every slot
FLOOR = 1.0  # the in-flight limit never goes below one request


@dataclass(frozen=True, slots=True, kw_only=True)
class Pace:
    """The limiter's state: a value; `on_answer` makes the next one."""

    ceiling: int
    limit: float
    paused_until: float = -math.inf
    cut_at: float = -math.inf  # when the limit was last cut
    rate: float = math.inf  # calls a second that may start; infinite until a refusal
    probing: bool = False  # the rate cap came from a short measure: it grows fast
    refusals: int = 0
    lowest: float = math.inf  # the lowest limit reached after a refusal
    first_refusal: float | None = None

    @classmethod
    def start(cls, ceiling: int) -> Pace:
        return cls(ceiling=ceiling, limit=float(ceiling))

    @property
    def slots(self) -> int:
        """Requests that may be in flight now."""
        return max(1, int(self.limit))


def on_answer(
    pace: Pace,
    *,
    status: int | None,
    sent_at: float,
    now: float,
    retry_after: float | None,
    backoff: float,
    answered_rate: float = math.inf,
    measured: bool = True,
) -> Pace:
    """The pace after an attempt sent at `sent_at` met `status` (None: no answer) at `now`.

    `backoff` is the pause when a refusal names none (the retry policy's step);
    `answered_rate` the calls a second the server answered before this refusal (infinite when
    not known), `measured` False when that came from too short a time to trust. Returns
    `pace` itself when nothing changes, so a clean answer at the ceiling allocates nothing.
    """
    if status is None:
        return pace
    if status in REFUSALS:
        first = now if pace.first_refusal is None else pace.first_refusal
        if sent_at < pace.cut_at:  # in flight when the last cut came: the same overload
            return replace(pace, refusals=pace.refusals + 1, first_refusal=first)
        asked = retry_after if retry_after is not None else backoff
        until = now + min(MAX_PAUSE, max(0.0, asked))
        limit = max(FLOOR, pace.limit * DECREASE)
        rate = min(pace.rate, answered_rate)
        return replace(
            pace,
            limit=limit,
            rate=max(MIN_RATE, rate * RATE_DECREASE),
            probing=not measured,
            paused_until=max(pace.paused_until, until),
            cut_at=now,
            refusals=pace.refusals + 1,
            lowest=min(pace.lowest, limit),
            first_refusal=first,
        )
    if pace.limit >= pace.ceiling and pace.rate == math.inf:
        return pace
    limit = min(float(pace.ceiling), pace.limit + 1.0 / pace.limit)
    step = RATE_STEP + (PROBE_GROWTH * pace.rate if pace.probing else 0.0)
    return replace(pace, limit=limit, rate=pace.rate + step / pace.rate)
