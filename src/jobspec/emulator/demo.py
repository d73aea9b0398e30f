"""The demo jobs `--demo` seeds: a dozen realistic transfer jobs with fixed ids.

Ids, connections and timestamps are hard-coded so every run (and every reset) shows the same
jobs, and specs and docs can name them. Two jobs ("Finance to SharePoint" and "Finance archive
to SharePoint") write into the same destination folder, the situation jobspec's conflict checks
are about.
"""

from __future__ import annotations

from typing import Any

BOX = "2aeae9329f7c4e0b8d5f1a6c3b7e9d01"
SHAREPOINT = "5dc531df6b2a4c8e9f3d7a1b0c5e8f42"
FILE_SHARE = "8f14e45fceea467a9575b4c1d2e3f607"
BOX_ARCHIVE = "9a1b7c3d5e2f4a6b8c0d1e3f5a7b9c2d"
CONNECTIONS: tuple[dict[str, Any], ...] = (
    {"id": BOX, "name": "Box Enterprise", "platform": {"id": "box", "name": "Box"}},
    {
        "id": SHAREPOINT,
        "name": "SharePoint Prod",
        "platform": {"id": "office365", "name": "Microsoft Office 365"},
    },
    {
        "id": FILE_SHARE,
        "name": "Corporate file share",
        "platform": {"id": "cifs", "name": "Windows File Share"},
    },
    {"id": BOX_ARCHIVE, "name": "Box Archive", "platform": {"id": "box", "name": "Box"}},
)
"""The server's named connections: the demo jobs' three, and a spare one to move a job to."""
ITEM_CHAIN_JOBS = {
    "4871369ea33e4dfda5da86be0810d83b": ("destination", ("Sites", "Finance", "Shared Documents")),
    "186d2251217b4bce99d74c84d0b78490": ("destination", ("Sites", "Executive", "Shared Documents")),
}
"""Demo jobs whose target comes as an item chain under the docshapes quirk (as jobs made in
the UI show it): the same folders as their paths."""
DEMO_EPOCH = 1735725600  # 2025-01-01 10:00:00 UTC; job n was created n days later
DEMO_USER = "admin"  # created_by / modified_by are strings in the vendor SDK

FINANCE_TO_SHAREPOINT = "c4d8c04a69224ef0bfaa2f8e920b8792"
FINANCE_ARCHIVE_TO_SHAREPOINT = "4871369ea33e4dfda5da86be0810d83b"
SHARED_DESTINATION = "/Sites/Finance/Shared Documents"

# A few jobs filed in categories, as admins file jobs by project (`generate --category`).
_FINANCE = {"id": 2, "name": "Finance"}
_MIGRATIONS = {"id": 3, "name": "Migrations"}
CATEGORIES = {
    FINANCE_TO_SHAREPOINT: _FINANCE,
    FINANCE_ARCHIVE_TO_SHAREPOINT: _FINANCE,
    "350cc3c562284d8bb088ea581032e8ca": _MIGRATIONS,  # HR Box to SharePoint
    "a9c76f82d11842f9aae8abebce9378f4": _MIGRATIONS,  # Sales Box to SharePoint
    "a97808cabc6c40fe8ff7b0fe0f0c9417": _MIGRATIONS,  # Support Box to SharePoint
}


def _endpoint(connection: str, path: str) -> dict[str, Any]:
    return {"connection": {"id": connection}, "target": {"path": path}}


def _job(
    index: int,
    job_id: str,
    name: str,
    *,
    source: tuple[str, str],
    destination: tuple[str, str],
    transfer_type: str,
    schedule: dict[str, Any],
    status: str = "idle",
    permissions: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    created_on = DEMO_EPOCH + index * 86400
    transfer: dict[str, Any] = {
        "transfer_type": transfer_type,
        "source": _endpoint(*source),
        "destination": _endpoint(*destination),
        "conflict_resolution": "copy",
        "delete_propagation": ["ignore_destination"],
        "lock_propagation": "ignore",
        "permissions": permissions or {"policy": "none", "links": True, "failures": "none"},
        "versioning": {"preserve": "native", "select": "all"},
        "duplicate_names": "rename",
        "item_overwrite": "overwrite",
        "failure_policy": "continue",
        "audit_level": "info",
        "empty_containers": "create",
    }
    transfer.update(extra.pop("transfer", {}))
    return {
        "id": job_id,
        "kind": "transfer",
        "name": name,
        "description": extra.pop("description", ""),
        "disabled": extra.pop("disabled", False),
        "priority": 0,
        "parent_id": None,
        "category": dict(CATEGORIES.get(job_id, {"id": -1, "name": "Default"})),
        "scheduler": {"id": -1, "name": "default"},
        "status": status,
        "schedule": schedule,
        "stop_policy": {"on_success": 2},
        "transfer": transfer,
        "created_on": created_on,
        "created_by": DEMO_USER,
        "modified_on": created_on,
        "modified_by": DEMO_USER,
        "previous_execution": None,
        "type": "job",
        **extra,
    }


_AUTO = {"mode": "auto"}
_MANUAL = {"mode": "manual"}
# Schedules in the vendor's shapes: run_at is a TimeOfDay, repeat_interval a TimeInterval
# (unit ns|us|ms|s|m|h|d), days a list or a name, start_date epoch seconds.
_NIGHTLY = {
    "mode": "auto",
    "run_at": {"hr": 2, "min": 0, "sec": 0, "ms": 0},
    "repeat_interval": {"value": 1, "unit": "d"},
}
_HOURLY = {"mode": "auto", "repeat_interval": {"value": 4, "unit": "h"}}
_WEEKDAYS = {"mode": "auto", "days": ["monday", "tuesday", "wednesday", "thursday", "friday"]}
_WEEKENDS = {
    "mode": "auto",
    "days": "weekends",
    "start_date": DEMO_EPOCH,
    "run_at": {"hr": 22, "min": 30, "sec": 0, "ms": 0},
}


def demo_jobs() -> list[dict[str, Any]]:
    """A fresh list of the demo jobs (new dicts on every call)."""
    return [
        _job(
            0,
            FINANCE_TO_SHAREPOINT,
            "Finance to SharePoint",
            source=(FILE_SHARE, "/Finance"),
            destination=(SHAREPOINT, SHARED_DESTINATION),
            transfer_type="sync",
            schedule=dict(_AUTO),
            permissions={"policy": "add", "links": True, "failures": "exceptions"},
            description="Live finance share, kept in sync with the Finance site.",
        ),
        _job(
            1,
            FINANCE_ARCHIVE_TO_SHAREPOINT,
            "Finance archive to SharePoint",
            source=(FILE_SHARE, "/Archive/Finance"),
            destination=(SHAREPOINT, SHARED_DESTINATION),
            transfer_type="copy",
            schedule=dict(_MANUAL),
            description="One-off copy of the old archive into the same Finance library.",
        ),
        _job(
            2,
            "350cc3c562284d8bb088ea581032e8ca",
            "HR Box to SharePoint",
            source=(BOX, "/HR"),
            destination=(SHAREPOINT, "/Sites/HR/Shared Documents"),
            transfer_type="migrate",
            schedule=dict(_NIGHTLY),
            status="running",
            permissions={"policy": "diff", "links": False, "failures": "deny"},
        ),
        _job(
            3,
            "fc052a47df0044d98422423651cf4e47",
            "Legal file share to Box",
            source=(FILE_SHARE, "/Legal"),
            destination=(BOX, "/Legal"),
            transfer_type="copy",
            schedule=dict(_MANUAL),
            transfer={"lock_propagation": "mirror_lock", "item_overwrite": "skip"},
        ),
        _job(
            4,
            "6b8e33421a0e4d89837c9fbc799cc6c5",
            "Marketing Box to SharePoint",
            source=(BOX, "/Marketing"),
            destination=(SHAREPOINT, "/Sites/Marketing/Shared Documents"),
            transfer_type="sync",
            schedule=dict(_HOURLY),
            transfer={"delete_propagation": ["mirror"], "filter": {"exclude": ["*.tmp", "~$*"]}},
        ),
        _job(
            5,
            "9121c6cfdf1848058f979b6412e008cf",
            "Engineering share to Box",
            source=(FILE_SHARE, "/Engineering"),
            destination=(BOX, "/Engineering"),
            transfer_type="move",
            schedule=dict(_MANUAL),
            status="paused",
            transfer={"versioning": {"preserve": "none", "select": "latest"}},
        ),
        _job(
            6,
            "a9c76f82d11842f9aae8abebce9378f4",
            "Sales Box to SharePoint",
            source=(BOX, "/Sales"),
            destination=(SHAREPOINT, "/Sites/Sales/Shared Documents"),
            transfer_type="migrate",
            schedule={"mode": "ad-hoc"},
            status="complete",
        ),
        _job(
            7,
            "186d2251217b4bce99d74c84d0b78490",
            "Executive share to SharePoint",
            source=(FILE_SHARE, "/Executive"),
            destination=(SHAREPOINT, "/Sites/Executive/Shared Documents"),
            transfer_type="copy",
            schedule=dict(_WEEKDAYS),
            permissions={"policy": "diff", "links": True, "failures": "all"},
            transfer={"audit_level": "debug"},
        ),
        _job(
            8,
            "d4c66a243484488c9319c6f7c837b0ce",
            "Projects Box backup to file share",
            source=(BOX, "/Projects"),
            destination=(FILE_SHARE, "/Backup/Projects"),
            transfer_type="copy",
            schedule=dict(_NIGHTLY),
            transfer={"conflict_resolution": "latest", "empty_containers": "skip"},
        ),
        _job(
            9,
            "0a763e1677274090849de1e158f31ecc",
            "Operations SharePoint to Box",
            source=(SHAREPOINT, "/Sites/Operations/Shared Documents"),
            destination=(BOX, "/Operations"),
            transfer_type="sync",
            schedule=dict(_MANUAL),
            status="failed",
            transfer={"failure_policy": "halt", "conflict_resolution": "source"},
        ),
        _job(
            10,
            "a97808cabc6c40fe8ff7b0fe0f0c9417",
            "Support Box to SharePoint",
            source=(BOX, "/Support"),
            destination=(SHAREPOINT, "/Sites/Support/Shared Documents"),
            transfer_type="migrate",
            schedule=dict(_WEEKENDS),
            transfer={"duplicate_names": "warn", "delete_propagation": ["ignore_both"]},
        ),
        _job(
            11,
            "975c4144f3034af4b8a5a1e660870ecc",
            "Facilities share to SharePoint",
            source=(FILE_SHARE, "/Facilities"),
            destination=(SHAREPOINT, "/Sites/Facilities/Shared Documents"),
            transfer_type="sync",
            schedule=dict(_AUTO),
            disabled=True,
            description="Disabled until the Facilities site is provisioned.",
            notifications={"on_failure": ["it-ops@example.com"]},
        ),
    ]


def item_chain(names: tuple[str, ...]) -> dict[str, Any]:
    """`{"item": {"parent": {"root": true, "name": names[0]}, …, "name": names[-1]}}`."""
    item: dict[str, Any] = {"root": True, "name": names[0]}
    for name in names[1:]:
        item = {"parent": item, "name": name}
    return {"item": item}


def with_item_chains(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo jobs with `ITEM_CHAIN_JOBS` targets as item chains, without a path."""
    for job in jobs:
        if job["id"] in ITEM_CHAIN_JOBS:
            side, names = ITEM_CHAIN_JOBS[job["id"]]
            job["transfer"][side]["target"] = item_chain(names)
    return jobs


DEMO_IDS = tuple(job["id"] for job in demo_jobs())
