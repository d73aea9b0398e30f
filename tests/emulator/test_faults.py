"""Fault injection: seeded 503/429 rates, targeted faults, lost replies, latency."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from jobspec.emulator.app import API_ROUTES, DROPPABLE_ROUTES, hide_dropped_reply_errors
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.faults import (
    FaultPlan,
    FaultSettings,
    FaultsRejected,
    ReplyDropped,
    updated_settings,
)
from tests.helpers import EmulatorHandle, make_job

CLONE = "POST /v1/jobs/{id}/clone"


def _statuses(api: httpx.Client, path: str, count: int) -> list[int]:
    return [api.get(path).status_code for _ in range(count)]


def test_seeded_503_and_429_rates_are_reproducible(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    runs = []
    for _ in range(2):
        emulator.faults(seed=7, fault_503=0.3, fault_429=0.3)
        runs.append(_statuses(api, "v1/jobs", 40))
    assert runs[0] == runs[1]
    assert {200, 429, 503} <= set(runs[0])
    emulator.faults(seed=8)
    assert _statuses(api, "v1/jobs", 40) != runs[0]


def test_429_carries_retry_after_and_503_the_errors_envelope(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    emulator.faults(fault_429=1.0, retry_after=2)
    limited = api.get("v1/jobs")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.json()["errors"][0]["description"]
    emulator.faults(fault_429=0.0, fault_503=1.0)
    unavailable = api.get("v1/jobs")
    assert unavailable.status_code == 503
    assert "errors" in unavailable.json()
    assert "Retry-After" not in unavailable.headers


def test_retry_after_zero_is_allowed(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.faults(fault_429=1.0, retry_after=0)
    assert api.get("v1/jobs").headers["Retry-After"] == "0"


def test_faults_hit_the_token_endpoint_but_never_the_controls(emulator: EmulatorHandle) -> None:
    emulator.faults(fault_503=1.0)
    token = emulator.http.post(
        f"{emulator.url}connect/token",
        data={"grant_type": "password", "username": "admin", "password": "admin"},
    )
    assert token.status_code == 503
    emulator.seed([make_job()])
    assert len(emulator.all_jobs()) == 1
    assert emulator.stats()["requests"] == {"POST /connect/token": 1}


def test_a_targeted_fault_hits_the_next_k_calls_of_one_route_only(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    (job_id,) = emulator.seed([make_job()])
    emulator.faults(targets=[{"route": "GET /v1/jobs/{id}", "fault": "503", "count": 2}])
    assert api.get("v1/jobs").status_code == 200
    assert _statuses(api, f"v1/jobs/{job_id}", 4) == [503, 503, 200, 200]
    emulator.faults(targets=[{"route": "GET /v1/jobs", "fault": "429"}])
    assert _statuses(api, "v1/jobs", 2) == [429, 200]


def test_a_targeted_fault_can_wait_for_the_nth_call(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    (job_id,) = emulator.seed([make_job()])
    emulator.faults(
        targets=[{"route": "GET /v1/jobs/{id}", "fault": "503", "after": 2, "count": 1}]
    )
    assert _statuses(api, f"v1/jobs/{job_id}", 4) == [200, 200, 503, 200]
    refused = emulator.http.post(
        f"{emulator.url}_emulator/faults",
        json={"targets": [{"route": "GET /v1/jobs", "fault": "503", "after": -1}]},
    )
    assert refused.status_code == 400
    assert "after must be an integer >= 0" in refused.text


def test_lost_clone_reply_still_creates_the_clone(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    (source_id,) = emulator.seed([make_job()])
    emulator.faults(targets=[{"route": CLONE, "fault": "drop", "count": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"v1/jobs/{source_id}/clone", json={"name": "the clone"})
    names = [job["name"] for job in emulator.all_jobs()]
    assert names == ["Finance to SharePoint", "the clone"]
    again = api.post(f"v1/jobs/{source_id}/clone", json={"name": "second clone"})
    assert again.status_code == 201
    # The fault was spent on the first call, so nothing else is pending.
    assert emulator.http.get(f"{emulator.url}_emulator/faults").json()["targets"] == []


def test_drop_rate_loses_replies_of_changes_only(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    (job_id,) = emulator.seed([make_job()])
    emulator.faults(fault_drop=1.0)
    assert api.get(f"v1/jobs/{job_id}").status_code == 200
    assert api.get("v1/jobs").status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        api.patch(f"v1/jobs/{job_id}", json={"description": "landed"})
    with pytest.raises(httpx.RemoteProtocolError):
        api.delete(f"v1/jobs/{job_id}")
    (job,) = emulator.all_jobs()
    assert (job["description"], job["deleted"]) == ("landed", True)


@pytest.mark.parametrize(
    ("settings", "delay_s"),
    [
        ({}, 0.0),
        ({"latency_ms": 150}, 0.15),
        ({"spike_rate": 1.0, "spike_ms": 120}, 0.12),
        ({"latency_ms": 20, "spike_rate": 1.0, "spike_ms": 100}, 0.12),
        ({"latency_ms": 20, "spike_rate": 0.0, "spike_ms": 100}, 0.02),
    ],
)
def test_latency_and_spikes_decide_each_requests_delay(
    settings: dict[str, float], delay_s: float
) -> None:
    """What the emulator sleeps before a request, decided without waiting for it."""
    plan = FaultPlan(FaultSettings(**settings), routes=API_ROUTES, droppable=DROPPABLE_ROUTES)
    assert plan.decide("GET /v1/jobs").delay_s == pytest.approx(delay_s)


@pytest.mark.perf  # the delay really slept, on the wall clock: run with -m perf
def test_latency_is_added_to_api_requests(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.faults(latency_ms=150)
    started = time.perf_counter()
    assert api.get("v1/jobs").status_code == 200
    assert time.perf_counter() - started >= 0.15


@pytest.mark.perf
def test_latency_spikes(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.faults(spike_rate=1.0, spike_ms=120)
    started = time.perf_counter()
    api.get("v1/jobs")
    assert time.perf_counter() - started >= 0.12


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"fault_5O3": 0.1}, "unknown key"),
        ({"fault_503": 1.5}, "fault_503 must be a number between 0 and 1"),
        ({"latency_ms": -1}, "latency_ms must be a number >= 0"),
        ({"retry_after": 0.5}, "retry_after must be an integer"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"targets": [{"route": "GET /v2/jobs", "fault": "503"}]}, "targets[0].route"),
        ({"targets": [{"route": CLONE, "fault": "timeout"}]}, "targets[0].fault"),
        ({"targets": [{"route": CLONE, "fault": "drop", "count": 0}]}, "targets[0].count"),
    ],
)
def test_bad_fault_settings_are_400(
    emulator: EmulatorHandle, body: dict[str, object], words: str
) -> None:
    reply = emulator.http.post(f"{emulator.url}_emulator/faults", json=body)
    assert reply.status_code == 400
    assert words in reply.json()["errors"][0]["description"]


def test_faults_endpoint_reports_the_settings(emulator: EmulatorHandle) -> None:
    reply = emulator.http.post(
        f"{emulator.url}_emulator/faults", json={"fault_429": 0.25, "seed": 3}
    )
    assert reply.json() == {
        "latency_ms": 0.0,
        "spike_rate": 0.0,
        "spike_ms": 0.0,
        "fault_503": 0.0,
        "fault_429": 0.25,
        "fault_drop": 0.0,
        "retry_after": 1,
        "rate_limit": 0.0,
        "rate_burst": 0,
        "seed": 3,
        "targets": [],
    }


# --- the fault plan on its own ------------------------------------------------------------------


def _plan(**settings: object) -> FaultPlan:
    config = EmulatorConfig(**settings)  # type: ignore[arg-type]
    return FaultPlan(config.fault_settings, routes=API_ROUTES, droppable=DROPPABLE_ROUTES)


def test_the_same_seed_gives_the_same_decisions() -> None:
    first, second = (
        _plan(seed=11, fault_503=0.2, fault_drop=0.3),
        _plan(seed=11, fault_503=0.2, fault_drop=0.3),
    )
    routes = [CLONE, "GET /v1/jobs"] * 50
    assert [first.decide(route) for route in routes] == [second.decide(route) for route in routes]


def test_command_line_rates_and_latency_reach_the_plan() -> None:
    plan = _plan(seed=1, fault_drop=1.0, latency_ms=30)
    assert plan.decide("GET /v1/jobs").drop is False
    decision = plan.decide(CLONE)
    assert decision.drop is True
    assert decision.delay_s == pytest.approx(0.03)


def test_updates_are_partial() -> None:
    settings = updated_settings(FaultSettings(fault_503=0.5), {"fault_429": 0.1}, routes=API_ROUTES)
    assert (settings.fault_503, settings.fault_429) == (0.5, 0.1)
    with pytest.raises(FaultsRejected):
        updated_settings(settings, {"targets": "all"}, routes=API_ROUTES)


def test_deliberate_drops_are_kept_out_of_the_uvicorn_error_log() -> None:
    hide_dropped_reply_errors()
    logger = logging.getLogger("uvicorn.error")

    def record(exc: BaseException) -> logging.LogRecord:
        return logger.makeRecord(
            "uvicorn.error",
            logging.ERROR,
            __file__,
            1,
            "Exception in ASGI application\n",
            (),
            (type(exc), exc, None),
        )

    assert logger.filter(record(ReplyDropped("dropped"))) is False
    assert logger.filter(record(RuntimeError("a real bug"))) is not False


def test_the_error_log_hides_drops_and_hung_up_clients_but_not_bugs() -> None:
    import logging

    from starlette.requests import ClientDisconnect

    from jobspec.emulator.faults import ReplyDropped
    from jobspec.emulator.replies import _HideDroppedReplies

    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "uvicorn.error",
            logging.ERROR,
            __file__,
            1,
            "Exception in ASGI application",
            (),
            (type(exc), exc, None),
        )

    hide = _HideDroppedReplies()
    assert not hide.filter(record(ReplyDropped("drop")))
    assert not hide.filter(record(ClientDisconnect()))
    assert hide.filter(record(ValueError("a real bug")))
