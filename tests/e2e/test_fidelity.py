"""The issue-13 promises end to end, against `jobspec emulator --demo --quirks all` over a
socket, with auto jobs running on their own: a fresh plan → apply → plan converges, a saved
plan survives runs of the jobs it read, and a spec naming only a destination path keeps the
source's connection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobspec.emulator.config import QUIRKS, EmulatorConfig
from jobspec.emulator.demo import FINANCE_TO_SHAREPOINT
from jobspec.emulator.server import running_emulator
from tests.e2e.conftest import Workspace
from tests.helpers import CI_CLIENT_ID, CI_CLIENT_SECRET, SSL_CONTEXT, EmulatorHandle

LEGAL = "fc052a47df0044d98422423651cf4e47"  # "Legal file share to Box", on manual
RUN_WAIT_S = 20.0


@pytest.fixture(scope="module")
def demo_server() -> Iterator[EmulatorHandle]:
    config = EmulatorConfig(
        demo=True,
        quirks=frozenset(QUIRKS),
        client_id=CI_CLIENT_ID,
        client_secret=CI_CLIENT_SECRET,
        run_seconds=0.05,
        auto_interval=0.0,  # switched on by the test that wants runs
        seed=13,
    )
    with running_emulator(config) as server, httpx.Client(timeout=10, verify=SSL_CONTEXT) as http:
        yield EmulatorHandle(server.url, http)


@pytest.fixture
def demo_ws(demo_server: EmulatorHandle, tmp_path: Path) -> Workspace:
    demo_server.reset()
    return Workspace(root=tmp_path, emulator=demo_server)


def write_specs(ws: Workspace, jobs: dict[str, Any]) -> None:
    (ws.root / "specs").mkdir(exist_ok=True)
    document = {"version": 1, "jobs": jobs}
    (ws.root / "specs" / "jobs.yaml").write_text(json.dumps(document), encoding="utf-8")


SPECS = {
    # only the destination path: the clone must keep the source's destination connection
    "legal-archive": {
        "source": LEGAL,
        "overrides": {
            "name": "Legal archive to Box",
            "transfer": {
                "destination": {"target": {"path": "/Legal/Archive"}},
                "conflict_resolution": "latest",
                "delete_propagation": ["ignore_source", "ignore_destination"],
            },
        },
    },
    # an auto job as the source; the clone runs nightly in the vendor's schedule shapes
    "finance-nightly": {
        "source": FINANCE_TO_SHAREPOINT,
        "original": "manual",
        "overrides": {
            "name": "Finance nightly to SharePoint",
            "transfer": {
                "transfer_type": "copy",
                "destination": {"target": {"path": "/Sites/Finance/Nightly"}},
            },
            "schedule": {
                "mode": "auto",
                "run_at": "02:30",
                "repeat_interval": {"value": 1, "unit": "days"},
                "days": "weekdays",
            },
        },
    },
}


def live_job(ws: Workspace, job_id: str) -> dict[str, Any]:
    (job,) = [job for job in ws.emulator.all_jobs() if job["id"] == job_id]
    return job


def test_plan_apply_plan_converges_on_the_strictest_server(demo_ws: Workspace) -> None:
    write_specs(demo_ws, SPECS)
    demo_ws.cli("plan", "--detailed-exitcode", expect=2)
    applied = demo_ws.cli("apply", "--auto-approve")
    assert "Apply complete: 2 created" in applied.stdout
    replan = demo_ws.cli("plan", "--detailed-exitcode", expect=0)
    assert replan.stdout.startswith("No changes.")
    assert "skipped 2 job(s) in the job list" in replan.stderr  # the odd system jobs
    state = demo_ws.state()
    legal = live_job(demo_ws, LEGAL)
    clone = live_job(demo_ws, state["legal-archive"].clone_id)
    destination = clone["transfer"]["destination"]
    assert destination["connection"] == legal["transfer"]["destination"]["connection"]
    assert destination["target"] == {"path": "/Legal/Archive"}
    nightly = live_job(demo_ws, state["finance-nightly"].clone_id)["schedule"]
    assert nightly["run_at"] == {"hr": 2, "min": 30, "sec": 0, "ms": 0}
    assert nightly["repeat_interval"] == {"value": 1, "unit": "d"}
    assert live_job(demo_ws, FINANCE_TO_SHAREPOINT)["schedule"]["mode"] == "manual"


def test_a_saved_plan_survives_runs_of_the_jobs_it_read(demo_ws: Workspace) -> None:
    write_specs(demo_ws, SPECS)
    demo_ws.cli("plan", "--out", "plan.json")
    before = len(demo_ws.emulator.history(FINANCE_TO_SHAREPOINT))
    demo_ws.emulator.runs(auto_interval=0.1)
    try:
        deadline = time.monotonic() + RUN_WAIT_S
        while len(demo_ws.emulator.history(FINANCE_TO_SHAREPOINT)) < before + 2:
            assert time.monotonic() < deadline, "the auto job did not run twice"
            time.sleep(0.05)  # polling the server's own record of runs, not standing in for it
    finally:
        demo_ws.emulator.runs(auto_interval=0)
    applied = demo_ws.cli("apply", "plan.json")
    assert "Apply complete: 2 created" in applied.stdout
    demo_ws.cli("plan", "--detailed-exitcode", expect=0)
