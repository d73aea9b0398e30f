"""Fault injection: which API request gets latency, a 503, a 429, or loses its reply.

`FaultPlan.decide(route)` is called once per API request (never for `/_emulator/` controls)
and returns a `Decision`; the app carries it out. Every request draws the same number of
random numbers from one seeded generator, so with `--seed` a run of requests meets the same
faults every time, whatever the settings.

Settings start from the command line and change at run time through
`POST /_emulator/faults`, whose JSON body is a partial update (keys not sent are kept):

    {
      "latency_ms":  0,      number >= 0, added to every API request
      "spike_rate":  0.0,    0..1, chance of an extra latency spike
      "spike_ms":    0,      number >= 0, length of a spike
      "fault_503":   0.0,    0..1, chance of 503 (no Retry-After)
      "fault_429":   0.0,    0..1, chance of 429 with Retry-After
      "fault_drop":  0.0,    0..1, chance that a clone, patch or delete is done
                             and its reply is then lost (connection closed)
      "retry_after": 1,      integer seconds >= 0 sent in Retry-After
      "rate_limit":  0.0,    calls a second >= 0 (0: no limit): a token bucket answers 429
                             with Retry-After (whole seconds until a call is allowed)
      "rate_burst":  0,      integer >= 0: calls the bucket holds (0: one second's worth)
      "seed":        null,   integer: restart the random generator from this seed
      "targets": [           replaces the list; served before any random fault
        {"route": "POST /v1/jobs/{id}/clone", "fault": "drop", "count": 1, "after": 0}
      ]                      fault: "503" | "429" | "drop" | "done_503"; count >= 1 (default 1):
                             after `after` (default 0) more requests to `route` pass
                             untouched, the next `count` get the fault
    }

A target may name any API route; "drop" on a route that changes nothing just loses the reply.
"done_503" does the work, then answers 503 instead of the reply: what Envoy or Istio send when
the upstream connection resets after the server acted.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

TARGET_FAULTS = ("503", "429", "drop", "done_503")


class FaultsRejected(Exception):
    """A faults update the emulator refuses; each problem is one error description."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ReplyDropped(Exception):
    """Raised after the reply has started, so the server closes the connection mid-reply."""


@dataclass(frozen=True)
class Target:
    """After `after` more requests to `route` pass untouched, the next `count` get `fault`."""

    route: str
    fault: str
    count: int = 1
    after: int = 0


@dataclass(frozen=True)
class FaultSettings:
    """The faults in force. Declared once: `EmulatorConfig` extends this class, so each
    setting is a flag of `jobspec emulator`, a config field and a key of the faults body."""

    latency_ms: float = 0.0
    spike_rate: float = 0.0
    spike_ms: float = 0.0
    fault_503: float = 0.0
    fault_429: float = 0.0
    fault_drop: float = 0.0
    retry_after: int = 1
    rate_limit: float = 0.0
    rate_burst: int = 0
    seed: int | None = None
    targets: tuple[Target, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The fault settings alone, also of an `EmulatorConfig` (never its credentials)."""
        values = {item.name: getattr(self, item.name) for item in fields(FaultSettings)}
        return values | {"targets": [asdict(target) for target in self.targets]}


@dataclass(frozen=True)
class Decision:
    """What to do to one request: wait `delay_s`, answer `status` instead, drop the reply, or
    do the work and answer `status_after` instead of its reply."""

    delay_s: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    drop: bool = False
    status_after: int | None = None


_RATES = ("spike_rate", "fault_503", "fault_429", "fault_drop")
_DURATIONS = ("latency_ms", "spike_ms")
_KEYS = (*_DURATIONS, *_RATES, "retry_after", "rate_limit", "rate_burst", "seed", "targets")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def updated_settings(
    current: FaultSettings, body: Mapping[str, Any], *, routes: Iterable[str]
) -> FaultSettings:
    """`current` with the keys of a `POST /_emulator/faults` body applied; pure."""
    known_routes = tuple(routes)
    problems = [
        f"unknown key {key!r}; allowed keys: {', '.join(_KEYS)}" for key in body if key not in _KEYS
    ]
    changes: dict[str, Any] = {}
    for key in _DURATIONS:
        if key in body:
            value = body[key]
            if not _is_number(value) or value < 0:
                problems.append(f"{key} must be a number >= 0")
            else:
                changes[key] = float(value)
    for key in _RATES:
        if key in body:
            value = body[key]
            if not _is_number(value) or not 0 <= value <= 1:
                problems.append(f"{key} must be a number between 0 and 1")
            else:
                changes[key] = float(value)
    if "retry_after" in body:
        value = body["retry_after"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append("retry_after must be an integer number of seconds >= 0")
        else:
            changes["retry_after"] = value
    if "rate_limit" in body:
        value = body["rate_limit"]
        if not _is_number(value) or not 0 <= value < float("inf"):
            problems.append("rate_limit must be a number of calls a second >= 0 (0: no limit)")
        else:
            changes["rate_limit"] = float(value)
    if "rate_burst" in body:
        value = body["rate_burst"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append("rate_burst must be an integer >= 0")
        else:
            changes["rate_burst"] = value
    if "seed" in body:
        value = body["seed"]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            problems.append("seed must be an integer or null")
        else:
            changes["seed"] = value
    if "targets" in body:
        targets, target_problems = _parse_targets(body["targets"], known_routes)
        problems.extend(target_problems)
        changes["targets"] = targets
    if problems:
        raise FaultsRejected(problems)
    return replace(current, **changes)


def _parse_targets(raw: object, routes: tuple[str, ...]) -> tuple[tuple[Target, ...], list[str]]:
    if not isinstance(raw, list):
        return (), ["targets must be a list of {route, fault, count}"]
    targets: list[Target] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        where = f"targets[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object with route, fault and count")
            continue
        extra = sorted(set(item) - {"route", "fault", "count", "after"})
        if extra:
            problems.append(f"{where}: unknown keys {', '.join(extra)}")
        route, fault, count = item.get("route"), str(item.get("fault")), item.get("count", 1)
        after = item.get("after", 0)
        if route not in routes:
            problems.append(f"{where}.route must be one of: {', '.join(routes)}")
        if fault not in TARGET_FAULTS:
            problems.append(f"{where}.fault must be one of: {', '.join(TARGET_FAULTS)}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            problems.append(f"{where}.count must be an integer >= 1")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            problems.append(f"{where}.after must be an integer >= 0")
        if not problems:
            targets.append(Target(route=str(route), fault=fault, count=count, after=after))
    return tuple(targets), problems


class TokenBucket:
    """A gateway's rate limit: `rate` calls a second, `burst` at once; pure but for `now`."""

    def __init__(self, rate: float, burst: int, *, now: float) -> None:
        self.rate = rate
        self.capacity = float(burst or max(1, math.ceil(rate)))
        self._tokens = self.capacity
        self._at = now

    def take(self, now: float) -> float:
        """Take one call's token: 0.0 when allowed, else the seconds until one is there."""
        if self.rate <= 0:
            return 0.0
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = max(self._at, now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class FaultPlan:
    """The current settings plus the random generator and what is left of each target."""

    def __init__(
        self,
        settings: FaultSettings,
        *,
        routes: Iterable[str],
        droppable: Iterable[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = tuple(routes)
        self.droppable = frozenset(droppable)
        self.settings = settings
        self._random = random.Random(settings.seed)
        self._clock = clock
        self._bucket = self._fresh_bucket()
        self.limited = 0
        """Requests the rate limit refused."""

    def _fresh_bucket(self) -> TokenBucket:
        return TokenBucket(self.settings.rate_limit, self.settings.rate_burst, now=self._clock())

    def update(self, body: Mapping[str, Any]) -> FaultSettings:
        """Apply a faults body (see the module docstring); reseeds when it names a seed."""
        new = updated_settings(self.settings, body, routes=self.routes)
        self.settings = new
        if "seed" in body:
            self._random = random.Random(new.seed)
        if "rate_limit" in body or "rate_burst" in body:
            self._bucket = self._fresh_bucket()
        return new

    def decide(self, route: str) -> Decision:
        """The faults for one request to `route`; consumes one use of a matching target."""
        settings = self.settings
        draw = self._random.random
        spike, unavailable, limited, dropped = draw(), draw(), draw(), draw()
        delay_ms = settings.latency_ms
        if spike < settings.spike_rate:
            delay_ms += settings.spike_ms
        wait = self._bucket.take(self._clock())
        if wait > 0:  # over the rate: refused at the door, before any fault or work
            self.limited += 1
            return Decision(status=429, retry_after=max(1, math.ceil(wait)))
        fault: str | None = self._take_target(route)
        if fault is None:
            if unavailable < settings.fault_503:
                fault = "503"
            elif limited < settings.fault_429:
                fault = "429"
            elif route in self.droppable and dropped < settings.fault_drop:
                fault = "drop"
        delay_s = delay_ms / 1000
        if fault == "503":
            return Decision(delay_s=delay_s, status=503)
        if fault == "429":
            return Decision(delay_s=delay_s, status=429, retry_after=settings.retry_after)
        if fault == "done_503":
            return Decision(delay_s=delay_s, status_after=503)
        return Decision(delay_s=delay_s, drop=fault == "drop")

    def _take_target(self, route: str) -> str | None:
        targets = self.settings.targets
        for index, target in enumerate(targets):
            if target.route == route and target.after > 0:
                waiting = replace(target, after=target.after - 1)
                self.settings = replace(
                    self.settings, targets=(*targets[:index], waiting, *targets[index + 1 :])
                )
                return None
            if target.route == route:
                remaining = (
                    (
                        *targets[:index],
                        replace(target, count=target.count - 1),
                        *targets[index + 1 :],
                    )
                    if target.count > 1
                    else (*targets[:index], *targets[index + 1 :])
                )
                self.settings = replace(self.settings, targets=remaining)
                return target.fault
        return None
