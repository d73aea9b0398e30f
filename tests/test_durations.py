"""One duration grammar (durations.py) for --wait-for-idle, --wait and the spec's intervals."""

from __future__ import annotations

import pytest

from jobspec import model
from jobspec.durations import SECONDS, UNIT_ALIASES, parse_duration, unit_name


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("0", 0.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        (".5h", 1800.0),
        ("2d", 172800.0),
        ("500ms", 0.5),
        ("2 days", 172800.0),
        ("10 Minutes", 600.0),
        (" 5M ", 300.0),
        ("3 hours", 10800.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "not a duration"),
        ("soon", "not a duration"),
        ("-5", "not a duration"),
        ("1e3", "not a duration"),
        ("inf", "not a duration"),
        ("nan", "not a duration"),
        ("10x", "unknown unit 'x'"),
        ("5 m s", "not a duration"),
        ("1h30m", "not a duration"),
    ],
)
def test_what_is_not_a_duration(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_duration(text)


def test_the_spec_s_units_are_the_grammar_s() -> None:
    """The spec's `repeat_interval` units, long names included, are the same table."""
    assert {unit.value for unit in model.TimeUnit} == set(SECONDS)
    assert model.TIME_UNIT_ALIASES == UNIT_ALIASES
    for name in [*SECONDS, *UNIT_ALIASES, "Hours", "D"]:
        interval = model.RepeatInterval.model_validate({"value": 2, "unit": name})
        assert interval.unit.value == unit_name(name)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        ("--wait-for-idle=2d", 172800.0),
        ("--wait-for-idle=500ms", 0.5),
        ("--wait-for-idle=1.5h", 5400.0),
    ],
)
def test_wait_for_idle_takes_the_grammar(given: str, seconds: float) -> None:
    from jobspec.cli.apply import apply

    with apply.make_context("apply", [given]) as ctx:
        assert ctx.params["wait_for_idle"] == pytest.approx(seconds)


@pytest.mark.parametrize(("given", "seconds"), [([], 0.0), (["--lock-timeout", "2m"], 120.0)])
def test_lock_timeout_takes_the_grammar(given: list[str], seconds: float) -> None:
    from jobspec.cli.apply import apply

    with apply.make_context("apply", given) as ctx:
        assert ctx.params["lock_timeout"] == seconds


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("4h", {"value": 4, "unit": "h"}),
        ("2 Days", {"value": 2, "unit": "d"}),
        ("90", {"value": 90, "unit": "s"}),
        ("30 minutes", {"value": 30, "unit": "m"}),
        ({"value": 4, "unit": "hours"}, {"value": 4, "unit": "h"}),
    ],
)
def test_a_spec_interval_may_be_written_as_a_duration(written: object, sent: object) -> None:
    """The same text the flags take; the API gets its `{value, unit}` either way."""
    schedule = model.Schedule.model_validate({"repeat_interval": written})
    assert schedule.model_dump(mode="json", exclude_none=True) == {"repeat_interval": sent}


@pytest.mark.parametrize(
    ("written", "words"),
    [("1.5h", "whole number"), ("0h", "whole number"), ("soon", "not a duration")],
)
def test_a_spec_interval_that_is_not_a_whole_duration(written: str, words: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=words):
        model.Schedule.model_validate({"repeat_interval": written})
