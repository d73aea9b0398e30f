"""Live-job values: fingerprints and digests cover configuration only; statuses mean what the
vendor's client says they mean."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.model import SERVER_MAINTAINED, LiveJob, configuration, deep_merge, digest
from tests.helpers import make_job

JOB_ID = "c4d8c04a69224ef0bfaa2f8e920b8792"


def live(**changes: Any) -> LiveJob:
    return LiveJob.from_raw(deep_merge({"id": JOB_ID, **make_job()}, changes))


RUN_NOISE = [
    {"execute_on": 1767225600},
    {"health": "warning"},
    {"discriminator": "TransferJob"},
    {"size_estimate": {"bytes": 1234}},
    {"modified_on": 1767225600, "modified_by": "scheduler"},
    {"stop_policy": {"completions": 3, "failures": 1, "executions": 4}},
    {"transfer": {"source": {"event_position": "p-1"}, "destination": {"event_position": "p-2"}}},
    {"status": "running", "execution": {"id": 9}, "previous_execution": {"id": 8}},
    {"links": {"self": {"href": "http://elsewhere/v1/jobs/x"}}},
]
DECORATION = [  # issue 24: what a documented `fields=all` reply adds that is not configuration
    {
        "transfer": {
            side: {
                "connection": {
                    "name": "SharePoint Prod",
                    "platform": {"id": "sharepoint", "type": "platform"},
                    "group": {"id": 1},
                    "disabled": False,
                    "modified_on": 1767225600,
                    "type": "connection",
                },
                "options": None,
                "size_estimate": {"bytes": 99, "count": 3},
            }
            for side in ("source", "destination")
        }
    },
    {"transfer": {"type": "transfer"}},
    {"type": "job", "created_by": "9b2f6e0c1d3a4b5c6d7e8f9a0b1c2d3e"},
    {"transfer": {"permissions": {"size_estimate": {"bytes": 5}}}},  # at any depth
]


@pytest.mark.parametrize("noise", RUN_NOISE)
def test_fingerprint_and_source_digest_ignore_what_the_server_changes(
    noise: dict[str, Any],
) -> None:
    before, after = live(), live(**noise)
    assert after.fingerprint() == before.fingerprint()
    assert after.transfer_digest() == before.transfer_digest()


@pytest.mark.parametrize("decoration", DECORATION)
def test_fingerprints_read_a_connection_by_its_id_and_skip_reply_decoration(
    decoration: dict[str, Any],
) -> None:
    before, after = live(), live(**decoration)
    assert after.fingerprint() == before.fingerprint()
    assert after.transfer_digest() == before.transfer_digest()


def test_an_endpoint_type_and_a_set_options_are_configuration() -> None:
    typed = live(transfer={"source": {"type": "directory"}})
    optioned = live(transfer={"destination": {"options": {"x": 1}}})
    assert typed.transfer_digest() != live().transfer_digest()
    assert optioned.transfer_digest() != live().transfer_digest()


@pytest.mark.parametrize(
    "edit",
    [
        {"schedule": {"mode": "manual"}},
        {"stop_policy": {"on_success": 5}},
        {"transfer": {"destination": {"target": {"path": "/Elsewhere"}}}},
        {"name": "Renamed"},
        {"transfer": {"source": {"connection": {"id": "0" * 32}}}},
    ],
)
def test_fingerprint_moves_with_configuration(edit: dict[str, Any]) -> None:
    assert live(**edit).fingerprint() != live().fingerprint()


def test_configuration_leaves_the_job_itself_alone() -> None:
    raw = live(execute_on=5, transfer={"source": {"event_position": "p"}}).raw
    kept = configuration(raw)
    assert "execute_on" not in kept and "event_position" not in kept["transfer"]["source"]
    assert raw["execute_on"] == 5 and raw["transfer"]["source"]["event_position"] == "p"
    assert all(path for path in SERVER_MAINTAINED)


def _without_reference(node: Any, paths: list[tuple[str, ...]]) -> Any:
    """The rule spelled out slowly: drop a key when some path ends at it (`*`: any key)."""
    if not isinstance(node, dict):
        return node
    kept = {}
    for key, value in node.items():
        below = [path[1:] for path in paths if path[0] in (key, "*")]
        if any(not rest for rest in below):
            continue
        kept[key] = _without_reference(value, below) if below else value
    return kept


@pytest.mark.parametrize(
    "paths",
    [
        [("a",)],
        [("a", "b"), ("a", "c")],
        [("*", "b")],
        [("a", "*", "b"), ("a", "x", "c")],  # a named and a `*` rule meet at a.x
        [("a", "*"), ("a", "x", "c")],  # `*` drops a.x whole, whatever the named rule says
        [("*", "x"), ("a", "x", "y")],
    ],
)
def test_dropping_paths_matches_the_rule_spelled_out(paths: list[tuple[str, ...]]) -> None:
    from jobspec.livejob import _drop_tree, _without

    node = {
        "a": {"x": {"b": 1, "c": 2, "y": 3}, "y": {"b": 4, "e": 5}, "b": 6},
        "x": 7,
        "r": {"x": {"y": 8}, "b": 9},
    }
    assert _without(node, _drop_tree(tuple(paths))) == _without_reference(node, paths)


def test_a_live_jobs_configuration_is_worked_out_once() -> None:
    job = live(execute_on=5)
    assert job.fingerprint() == job.fingerprint() == digest(configuration(job.raw))
    assert (
        job.endpoint_configuration("destination")
        == configuration(job.raw)["transfer"]["destination"]
    )
    assert job._worked_out() is job._worked_out()  # once: a plan reads it three times
    assert job == LiveJob.from_raw(dict(job.raw))  # the cache is not part of the value
    with pytest.raises(AttributeError):
        job.raw = {}  # type: ignore[misc]  # read-only: the cache stays the raw's


@pytest.mark.parametrize(
    ("status", "running"),
    [
        ("running", True),
        ("start", True),
        ("resume", True),
        ("cancelling", True),  # a cancel asked for: data still moves until it ends
        ("paused", False),
        ("idle", False),
        ("complete", False),
    ],
)
def test_statuses_that_still_move_data_count_as_running(status: str, running: bool) -> None:
    assert live(status=status).is_running is running


def test_a_deleted_status_is_a_deleted_job() -> None:
    assert live(status="deleted").is_deleted
    assert not live(status="idle").is_deleted


def test_vendor_schedule_shapes_are_accepted_and_sent_in_the_vendor_form() -> None:
    from jobspec.model import Schedule

    written = {
        "mode": "auto",
        "run_at": "02:30",
        "repeat_interval": {"value": 1, "unit": "days"},
        "days": "weekends",
        "start_date": "1735725600",
    }
    sent = Schedule.model_validate(written).model_dump(mode="json", exclude_none=True)
    assert sent == {
        "mode": "auto",
        "run_at": {"hr": 2, "min": 30, "sec": 0, "ms": 0},
        "repeat_interval": {"value": 1, "unit": "d"},
        "days": "weekends",
        "start_date": "1735725600",
    }
    vendor = {
        "run_at": {"hr": 2, "min": 30, "sec": 0, "ms": 0},
        "repeat_interval": {"value": 5, "unit": "ms"},
    }
    assert Schedule.model_validate(vendor).model_dump(mode="json", exclude_none=True) == vendor


@pytest.mark.parametrize(
    "bad",
    [
        {"run_at": "2 am"},
        {"run_at": {"hr": 24}},
        {"repeat_interval": {"value": 1, "unit": "fortnight"}},
        {"start_date": "2026-01-01"},  # the API takes epoch seconds
    ],
)
def test_schedule_shapes_that_mean_nothing_are_refused(bad: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from jobspec.model import Schedule

    with pytest.raises(ValidationError):
        Schedule.model_validate(bad)


def test_lean_values_share_one_fields_set_that_copies_never_change() -> None:
    from jobspec.model import CutoverPhase, CutoverRecord

    one = CutoverRecord(phase=CutoverPhase.cloned)
    two = CutoverRecord(phase=CutoverPhase.started, run_id=3)
    assert one.model_fields_set is two.model_fields_set  # one set for the class, not per value
    shared = set(one.model_fields_set)
    moved = one.model_copy(update={"phase": CutoverPhase.verified})
    assert moved.phase is CutoverPhase.verified and one.phase is CutoverPhase.cloned
    assert one.model_fields_set == shared == set(CutoverRecord.model_fields)
    assert moved.model_fields_set is one.model_fields_set  # a copy shares it too
    assert CutoverRecord(phase=CutoverPhase.cloned) == one
