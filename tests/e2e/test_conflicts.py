"""The transfer-conflict guard end to end: refused before any change, accepted on purpose.

Every conflict kind is in tests/planner/test_conflicts.py; this checks the command line and
the requests: the plan reads every live job in one listing, and a refused plan changes nothing.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Workspace
from tests.helpers import make_job

pytestmark = pytest.mark.quirks  # also against `jobspec emulator --quirks all`


def test_a_clone_into_a_folder_another_scheduled_job_writes_is_refused_then_accepted(
    ws: Workspace,
) -> None:
    (stranger,) = ws.emulator.seed(
        [
            make_job(
                name="Someone else's sync",
                transfer={"destination": {"target": {"path": "/Sites/Shared"}}},
            )
        ]
    )
    destination = {"destination": {"target": {"path": "/sites/shared/Finance/"}}}
    ws.add_spec("finance", schedule={"mode": "auto"}, transfer=destination)

    refused = ws.cli("plan", expect=1)
    assert "specs/jobs.yaml:" in refused.stderr
    assert "finance: transfer conflict: the clone of finance writes to destination " in (
        refused.stderr
    )
    assert f'job {stranger} "Someone else\'s sync" (not managed by jobspec)' in refused.stderr
    assert "'/Sites/Shared'" in refused.stderr and "'/sites/shared/Finance/'" in refused.stderr
    requests = ws.emulator.stats()["requests"]
    assert requests.get("GET /v1/jobs/{id}", 0) == 0  # one listing, no job read one by one
    assert requests["GET /v1/jobs"] == 1

    ws.cli("apply", "--auto-approve", expect=1)
    assert ws.mutations() == 0
    assert not ws.state_path.exists() or ws.state() == {}

    ws.specs["finance"]["allow_overlap_with"] = [stranger]
    ws.write_specs()
    accepted = ws.cli("plan")
    assert "Warnings:" in accepted.stdout and "accepted by allow_overlap_with" in accepted.stdout
    ws.cli("apply", "--auto-approve")
    ws.assert_converged()


def test_manual_clones_are_planned_from_the_jobs_they_name(ws: Workspace) -> None:
    ws.emulator.seed([make_job(name=f"Bystander {n}") for n in range(3)])
    ws.add_spec("finance", schedule={"mode": "manual"})
    ws.cli("apply", "--auto-approve")  # a new clone's name is checked against every job
    before = ws.emulator.stats()["requests"]
    ws.cli("plan")
    requests = ws.emulator.stats()["requests"]
    # nothing can conflict and nothing is cloned: no listing, only the source and the clone
    assert requests.get("GET /v1/jobs", 0) == before.get("GET /v1/jobs", 0)
    assert requests["GET /v1/jobs/{id}"] - before["GET /v1/jobs/{id}"] == 2
