"""The emulator takes schedules in the vendor's shapes only, and its demo data uses them."""

from __future__ import annotations

import pytest

from jobspec.emulator import rules
from jobspec.emulator.demo import demo_jobs


def test_demo_jobs_are_valid_vendor_shapes() -> None:
    for job in demo_jobs():
        assert rules.problems_in(job) == [], job["name"]
    shapes = [job["schedule"] for job in demo_jobs()]
    assert any(isinstance(s.get("days"), str) for s in shapes)
    assert any(isinstance(s.get("run_at"), dict) for s in shapes)


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ({"run_at": "02:00"}, "schedule.run_at must be an object"),
        ({"run_at": {"hr": 2, "min": 75}}, "schedule.run_at.min"),
        ({"repeat_interval": {"value": 1, "unit": "days"}}, "repeat_interval.unit: 'days'"),
        ({"days": [1, 2]}, "schedule.days must be"),
        ({"start_date": "2026-01-01"}, "schedule.start_date must be epoch seconds"),
    ],
)
def test_other_schedule_shapes_are_refused(schedule: dict[str, object], problem: str) -> None:
    problems = rules.problems_in({"name": "x", "schedule": {"mode": "auto", **schedule}})
    assert any(problem in text for text in problems), problems


def test_transfer_type_default_is_accepted() -> None:
    assert rules.problems_in({"name": "x", "transfer": {"transfer_type": "default"}}) == []
