"""Issue 24's "done when", against `jobspec emulator --demo --quirks all` over a socket, where
replies carry expanded connections (their `modified_on` moving), a moving `size_estimate`
in each endpoint and item-chain targets: conflicts as with paths, unplaced endpoints never
silent, convergence, connections checked and named, folder-mapping children refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobspec.emulator.config import QUIRKS, EmulatorConfig
from jobspec.emulator.demo import (
    BOX_ARCHIVE,
    FINANCE_ARCHIVE_TO_SHAREPOINT,
    SHAREPOINT,
)
from jobspec.emulator.server import running_emulator
from tests.e2e.conftest import Workspace
from tests.helpers import CI_CLIENT_ID, CI_CLIENT_SECRET, SSL_CONTEXT, EmulatorHandle, make_job

LEGAL = "fc052a47df0044d98422423651cf4e47"  # "Legal file share to Box", manual, paths
EXECUTIVE = "186d2251217b4bce99d74c84d0b78490"  # auto; an item-chain destination here


@pytest.fixture(scope="module")
def docs_server() -> Iterator[EmulatorHandle]:
    config = EmulatorConfig(
        demo=True,
        quirks=frozenset(QUIRKS),
        client_id=CI_CLIENT_ID,
        client_secret=CI_CLIENT_SECRET,
        seed=24,
    )
    with running_emulator(config) as server, httpx.Client(timeout=10, verify=SSL_CONTEXT) as http:
        yield EmulatorHandle(server.url, http)


@pytest.fixture
def docs_ws(docs_server: EmulatorHandle, tmp_path: Path) -> Workspace:
    docs_server.reset()
    return Workspace(root=tmp_path, emulator=docs_server)


def write_specs(ws: Workspace, jobs: dict[str, Any]) -> None:
    (ws.root / "specs").mkdir(exist_ok=True)
    document = {"version": 1, "jobs": jobs}
    (ws.root / "specs" / "jobs.yaml").write_text(json.dumps(document), encoding="utf-8")


def into(path: str, *, source: str = LEGAL, **more: Any) -> dict[str, Any]:
    """A spec for an auto clone of `source` writing to `path` on the SharePoint connection."""
    destination = {"connection": {"id": SHAREPOINT}, "target": {"path": path}}
    overrides = {"name": f"Clone into {path}", "schedule": {"mode": "auto"}}
    return {
        "source": source,
        "overrides": {**overrides, "transfer": {"destination": destination}},
        **more,
    }


def test_an_item_chain_target_conflicts_as_its_path_would(docs_ws: Workspace) -> None:
    executive = next(job for job in docs_ws.emulator.all_jobs() if job["id"] == EXECUTIVE)
    assert "path" not in executive["transfer"]["destination"]["target"]  # a chain here
    write_specs(docs_ws, {"board": into("/Sites/Executive/Shared Documents/Board")})
    refused = docs_ws.cli("plan", expect=1)
    assert "which is inside destination '/Sites/Executive/Shared Documents' on connection" in (
        refused.stderr
    )
    assert f"job {EXECUTIVE} 'Executive share to SharePoint'" in refused.stderr
    # the other way round: a clone that keeps its source's item-chain target
    write_specs(
        docs_ws,
        {
            "archive": {
                "source": FINANCE_ARCHIVE_TO_SHAREPOINT,
                "overrides": {"name": "Archive, scheduled", "schedule": {"mode": "auto"}},
            }
        },
    )
    refused = docs_ws.cli("plan", expect=1)
    assert "destination '/Sites/Finance/Shared Documents' on connection" in refused.stderr
    assert "is the same folder as" in refused.stderr


def test_an_unplaced_endpoint_is_a_warning_or_a_refusal(docs_ws: Workspace) -> None:
    unplaced = make_job(name="Made in the UI", schedule={"mode": "auto"})
    unplaced["transfer"]["destination"] = {
        "connection": {"id": SHAREPOINT},
        "target": {"item": {"id": "01ABCDEF"}},
    }
    (job_id,) = docs_ws.emulator.seed([unplaced])
    write_specs(docs_ws, {"board": into("/Sites/Board")})
    warned = docs_ws.cli("plan", "--format", "json", expect=0)
    (warning,) = json.loads(warned.stdout)["warnings"]
    assert f"job {job_id} 'Made in the UI'" in warning["message"]
    assert "a platform item id" in warning["message"]

    clone_of_it = {"source": job_id, "overrides": {"name": "UI job, cloned"}}
    write_specs(docs_ws, {"ui": clone_of_it})
    refused = docs_ws.cli("plan", expect=1)
    assert "ui: the clone's destination on connection" in refused.stderr
    assert "allow_unplaced: true" in refused.stderr
    write_specs(docs_ws, {"ui": {**clone_of_it, "allow_unplaced": True}})
    accepted = docs_ws.cli("plan", expect=0)
    assert "(accepted by allow_unplaced)" in accepted.stdout


CONVERGING = {
    "archive-box": {
        "source": FINANCE_ARCHIVE_TO_SHAREPOINT,  # an item-chain destination, by name below
        "overrides": {
            "name": "Finance archive to Box",
            "schedule": {"mode": "manual"},
            "transfer": {
                "destination": {
                    "connection": {"name": "Box Archive"},
                    "target": {"path": "/Finance/Archive"},
                }
            },
        },
    },
    "legal-copy": {
        "source": LEGAL,
        "original": "keep",
        "overrides": {"name": "Legal copy", "transfer": {"conflict_resolution": "latest"}},
    },
}


def test_after_an_apply_drift_is_quiet_and_a_saved_no_op_plan_applies(docs_ws: Workspace) -> None:
    write_specs(docs_ws, CONVERGING)
    planned = docs_ws.cli("plan")
    assert "(unset)" not in planned.stdout.split("transfer.destination.target.path")[1][:60]
    assert '"/Sites/Finance/Shared Documents" → "/Finance/Archive"' in planned.stdout
    assert f'"{SHAREPOINT}" ("SharePoint Prod") → "{BOX_ARCHIVE}" ("Box Archive")' in (
        planned.stdout
    )
    docs_ws.cli("apply", "--auto-approve")
    state = json.loads(docs_ws.state_path.read_text(encoding="utf-8"))
    applied = state["entries"]["archive-box"]["applied"]
    assert applied["transfer"]["destination"]["connection"] == {"id": BOX_ARCHIVE}  # recorded

    # what the server changes on its own moves on every read
    first, second = (
        docs_ws.emulator.http.get(
            f"{docs_ws.emulator.url}v1/connections/{BOX_ARCHIVE}",
            headers={"Authorization": f"Bearer {docs_ws.emulator.token()}"},
        ).json()
        for _ in range(2)
    )
    assert first["connection"]["modified_on"] != second["connection"]["modified_on"]

    assert docs_ws.cli("drift", expect=0).stdout.startswith("No drift")
    docs_ws.cli("plan", "--out", "noop.plan", "--detailed-exitcode", expect=0)
    applied_plan = docs_ws.cli("apply", "noop.plan", expect=0)
    assert "moved since the plan was made" not in applied_plan.stdout + applied_plan.stderr


def test_a_missing_connection_id_fails_the_plan_naming_it(docs_ws: Workspace) -> None:
    typo = BOX_ARCHIVE[:-1] + "0"
    spec = into("/Finance/Elsewhere")
    spec["overrides"]["schedule"] = {"mode": "manual"}
    spec["overrides"]["transfer"]["destination"]["connection"] = {"id": typo}
    write_specs(docs_ws, {"typo": spec})
    refused = docs_ws.cli("plan", expect=1)
    assert f"connection {typo} does not exist on the server" in refused.stderr
    assert f"closest: {BOX_ARCHIVE} 'Box Archive'" in refused.stderr
    assert "specs/jobs.yaml:" in refused.stderr


def test_a_connection_change_shows_both_names_in_every_format(docs_ws: Workspace) -> None:
    spec = into("/Archive/Legal", source=FINANCE_ARCHIVE_TO_SHAREPOINT)
    spec["overrides"]["schedule"] = {"mode": "manual"}
    spec["overrides"]["transfer"]["destination"]["connection"] = {"id": BOX_ARCHIVE}
    write_specs(docs_ws, {"moved": spec})
    named = f'"{SHAREPOINT}" ("SharePoint Prod") → "{BOX_ARCHIVE}" ("Box Archive")'
    assert named in docs_ws.cli("plan").stdout
    markdown = docs_ws.cli("plan", "--format", "markdown").stdout
    assert f'- "{SHAREPOINT}" ("SharePoint Prod")' in markdown
    assert f'+ "{BOX_ARCHIVE}" ("Box Archive")' in markdown
    document = json.loads(docs_ws.cli("plan", "--format", "json").stdout)
    assert document["connections"] == {BOX_ARCHIVE: "Box Archive", SHAREPOINT: "SharePoint Prod"}


def test_a_folder_mapping_child_to_delete_is_refused_naming_the_parent(docs_ws: Workspace) -> None:
    (parent,) = docs_ws.emulator.seed([make_job(name="Home drives", kind="folder_mapping")])
    (child,) = docs_ws.emulator.seed([make_job(name="Home drive: ana", parent_id=parent)])
    write_specs(
        docs_ws, {"ana": {"source": child, "original": "delete", "overrides": {"name": "Ana"}}}
    )
    refused = docs_ws.cli("plan", expect=1)
    assert f"is a child of folder-mapping job {parent} 'Home drives'" in refused.stderr
    assert f"write a spec for the parent job {parent} instead" in refused.stderr
