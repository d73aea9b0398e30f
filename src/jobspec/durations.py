"""The one duration grammar: `--wait-for-idle`, `--wait` and the spec's intervals.

A duration is a number and a unit, `90s`, `10m`, `1.5h`, `2 days`; a bare number is seconds.
The units are the DryvIQ API's own `TimeInterval` units (`ns us ms s m h d`), which the spec's
`repeat_interval` sends, with the long names a person writes (`minutes`, `hours`, `days` …)
read as them. Pure: no clock, no I/O.
"""

from __future__ import annotations

import re

__all__ = ["SECONDS", "UNIT_ALIASES", "parse_duration", "split_duration", "unit_name"]

SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
"""Each unit (the API's `TimeInterval` units) in seconds."""
UNIT_ALIASES = {
    "day": "d",
    "days": "d",
    "hour": "h",
    "hours": "h",
    "minute": "m",
    "minutes": "m",
    "second": "s",
    "seconds": "s",
    "millisecond": "ms",
    "milliseconds": "ms",
}
"""Long names a person may write, and the unit each is."""
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)
EXAMPLES = "like 300, 90s, 10m, 1.5h or 2d"


def unit_name(text: str) -> str | None:
    """The unit `text` names (`"hours"` → `"h"`), None for no unit of the grammar."""
    lowered = text.strip().lower()
    found = UNIT_ALIASES.get(lowered, lowered)
    return found if found in SECONDS else None


def split_duration(text: str) -> tuple[str, str]:
    """`"10m"` → `("10", "m")`, `"90"` → `("90", "s")`; `ValueError` saying why otherwise."""
    matched = _DURATION.fullmatch(text)
    if matched is None:
        raise ValueError(f"{text!r} is not a duration ({EXAMPLES})")
    number, unit = matched.groups()
    found = unit_name(unit) if unit else "s"
    if found is None:
        raise ValueError(
            f"{text!r} is not a duration: unknown unit {unit!r} "
            f"(units: {', '.join(SECONDS)}, or minutes, hours, days …)"
        )
    return number, found


def parse_duration(text: str) -> float:
    """Seconds from a duration (`"10m"` → 600.0); `ValueError` saying why not."""
    number, unit = split_duration(text)
    return float(number) * SECONDS[unit]
