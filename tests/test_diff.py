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


PROPAGATION = ("transfer", "delete_propagation")


def test_set_like_lists_ignore_order_and_other_lists_do_not() -> None:
    assert diff.same(
        PROPAGATION,
        ["ignore_source", "ignore_destination"],
        ["ignore_destination", "ignore_source"],
    )
    assert diff.same(("schedule", "days"), ["monday", "friday"], ["friday", "monday"])
    assert diff.same(PROPAGATION, ["ignore_source"], ["ignore_source", "ignore_source"])  # a set
    assert not diff.same(PROPAGATION, ["ignore_source"], ["ignore_source", "mirror"])
    assert not diff.same(("passthrough_list",), ["a", "b"], ["b", "a"])
    assert not diff.same(("disabled",), True, 1)  # a boolean is not the number 1
    read_back = {"transfer": {"delete_propagation": ["ignore_destination", "ignore_source"]}}
    wanted = {"transfer": {"delete_propagation": ["ignore_source", "ignore_destination"]}}
    assert differs(wanted, read_back) == []


@pytest.mark.parametrize(
    ("path", "before", "after", "text"),
    [
        (
            PROPAGATION,
            ["mirror"],
            ["ignore_source", "ignore_destination"],
            "added ignore_destination, ignore_source; removed mirror",
        ),
        (PROPAGATION, ["mirror", "ignore_both"], ["ignore_both"], "removed mirror"),
        (("x",), ["a", "b"], ["b", "a"], "reordered"),
        (("priority",), "3", 3, "type string → number"),
        (("name",), "a", "b", None),
        (("name",), None, "b", None),
    ],
)
def test_describe_says_what_changed_inside(
    path: diff.Path, before: Any, after: Any, text: str | None
) -> None:
    assert diff.describe(path, before, after) == text
