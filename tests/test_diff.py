"""Managed-field comparison: equal meanings in other shapes are no change."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec import diff


def differs(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    return [diff.dotted(path) for path, _, _ in diff.differing_leaves(desired, live)]


@pytest.mark.parametrize(
    ("desired", "live"),
    [
        ({"run_at": {"hr": 2}}, {"run_at": {"hr": 2, "min": 0, "sec": 0, "ms": 0}}),
        ({"run_at": {"hr": 2, "min": 30, "sec": 0, "ms": 0}}, {"run_at": "02:30"}),
        ({"days": ["weekends"]}, {"days": "weekends"}),
        ({"start_date": 1735725600}, {"start_date": "1735725600"}),
        (
            {"repeat_interval": {"value": 4, "unit": "h"}},
            {"repeat_interval": {"value": 4, "unit": "h"}},
        ),
    ],
)
def test_vendor_schedule_shapes_compare_in_a_normal_form(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    assert differs({"schedule": desired}, {"schedule": live}) == []


@pytest.mark.parametrize(
    ("desired", "live", "paths"),
    [
        ({"run_at": {"hr": 2, "min": 30}}, {"run_at": {"hr": 2}}, ["schedule.run_at.min"]),
        ({"days": "weekdays"}, {"days": "weekends"}, ["schedule.days"]),
        ({"start_date": 1}, {"start_date": "2"}, ["schedule.start_date"]),
    ],
)
def test_real_schedule_changes_still_show(
    desired: dict[str, Any], live: dict[str, Any], paths: list[str]
) -> None:
    assert differs({"schedule": desired}, {"schedule": live}) == paths
