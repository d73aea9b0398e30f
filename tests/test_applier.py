"""The applier's recognition and entry rules, against a real state file and a small fake API.

The fake is a plain class with the `Api` protocol's methods, standing for a server whose
search behaves differently from the emulator's; nothing inside jobspec is patched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from jobspec.applier import apply_plan, clone_entry, find_clone
from jobspec.errors import ApiError, OutcomeUnknown
from jobspec.gate import Ground
from jobspec.model import (
    DesiredJob,
    JobSpec,
    LiveJob,
    OriginalPolicy,
    RetireHow,
    SourceLocation,
    StateEntry,
    deep_merge,
    digest,
)
from jobspec.planner import make_plan
from jobspec.state import FileStateStore
from tests.helpers import is_plain_json

SOURCE = "a" * 32
OLD = "b" * 32
NEW = "c" * 32


class PickySearchApi:
    """A server whose `q` search matches nothing with punctuation in it."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = [LiveJob.from_raw(job) for job in jobs]
        self.searches: list[str | None] = []
        self.server_time: float | None = 1000.0

    async def list_jobs(self, *, q: str | None = None) -> list[LiveJob]:
        self.searches.append(q)
        if q is not None and not q.isalnum():
            return []
        return [job for job in self.jobs if q is None or q.lower() in job.name.lower()]


def _intent(tmp_path: Path, **details: Any) -> Any:
    store = FileStateStore(tmp_path / "state.json")
    with store.lock(operation="test") as session:
        return session.record_intent("finance", "clone", **details)


def test_a_clone_the_search_misses_is_found_in_the_full_list(tmp_path: Path) -> None:
    name = "Finance (2026) — archive"
    api = PickySearchApi(
        [
            {"id": NEW, "name": name, "created_on": 1001},
            {"id": OLD, "name": name, "created_on": 10},  # older than the call: not ours
        ]
    )
    intent = _intent(tmp_path, target=SOURCE, name=name, not_before=1000.0)
    found = asyncio.run(find_clone(intent, api=api, known=set()))
    assert found is not None and found.id == NEW
    assert api.searches == [name, None]


def test_no_clone_anywhere_is_none(tmp_path: Path) -> None:
    api = PickySearchApi([{"id": OLD, "name": "Something else", "created_on": 1001}])
    intent = _intent(tmp_path, target=SOURCE, name="Finance archive", not_before=1000.0)
    assert asyncio.run(find_clone(intent, api=api, known=set())) is None


def _details(**changes: Any) -> dict[str, Any]:
    details = {
        "target": SOURCE,
        "name": "Finance archive",
        "source_id": SOURCE,
        "original": "manual",
        "applied": {"name": "Finance archive"},
        "source_digest": "d1",
        "replaces": None,
        "original_already": None,
    }
    return details | changes


def test_a_replace_keeps_how_the_original_was_retired(tmp_path: Path) -> None:
    previous = StateEntry(
        source_id=SOURCE,
        clone_id=OLD,
        original="manual",
        applied={},
        applied_digest="x",
        original_retired=RetireHow.manual,
    )
    intent = _intent(tmp_path, **_details(replaces=OLD))
    entry = clone_entry(intent, NEW, previous=previous)
    assert entry.original_retired is RetireHow.manual
    assert entry.superseded == [OLD]
    assert entry.applied == {"name": "Finance archive"} and entry.source_digest == "d1"


def test_an_original_already_on_manual_is_recorded_as_retired(tmp_path: Path) -> None:
    intent = _intent(tmp_path, **_details(original_already="manual"))
    assert clone_entry(intent, NEW, previous=None).original_retired is RetireHow.manual
    pending = _intent(tmp_path, **_details())
    assert clone_entry(pending, NEW, previous=None).original_retired is None


class RecordingApi:
    """A server that keeps its jobs in a dict and records every body it is sent."""

    def __init__(self, *jobs: dict[str, Any]) -> None:
        self.jobs = {job["id"]: job for job in jobs}
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.server_time: float | None = None

    async def get_job(self, job_id: str) -> LiveJob | None:
        raw = self.jobs.get(job_id)
        return LiveJob.from_raw(raw) if raw is not None else None

    async def list_jobs(self, *, q: str | None = None) -> list[LiveJob]:
        return [LiveJob.from_raw(raw) for raw in self.jobs.values()]

    async def clone(self, source_id: str, body: dict[str, Any]) -> LiveJob:
        self.sent.append(("clone", source_id, body))
        raw = deep_merge(self.jobs[source_id], body) | {"id": NEW}
        self.jobs[NEW] = raw
        return LiveJob.from_raw(raw)

    async def patch(self, job_id: str, body: dict[str, Any]) -> LiveJob:
        self.sent.append(("patch", job_id, body))
        self.jobs[job_id] = deep_merge(self.jobs[job_id], body)
        return LiveJob.from_raw(self.jobs[job_id])

    async def delete(self, job_id: str) -> bool:
        return self.jobs.pop(job_id, None) is not None


def test_bodies_sent_to_the_server_are_plain_json_and_state_keeps_the_enum(
    tmp_path: Path,
) -> None:
    source = {
        "id": SOURCE,
        "name": "Finance",
        "kind": "transfer",
        "schedule": {"mode": "auto"},
        "transfer": {"transfer_type": "sync"},
    }
    spec = JobSpec.model_validate(
        {
            "source": SOURCE,
            "original": "manual",
            "overrides": {
                "schedule": {"mode": "manual"},
                "transfer": {"transfer_type": "copy", "delete_propagation": "mirror"},
            },
        }
    )
    wanted = DesiredJob(
        address="finance", spec=spec, location=SourceLocation(file="specs/a.yaml", line=3)
    )
    plan = make_plan(
        desired={"finance": wanted},
        prior={},
        live={SOURCE: LiveJob.from_raw(source)},
        lineage=None,
        serial=0,
    )
    api = RecordingApi(source)
    store = FileStateStore(tmp_path / "state.json")
    with store.lock(operation="test") as session:
        result = asyncio.run(
            apply_plan(
                plan,
                api=api,
                journal=session,
                concurrency=1,
                settle=0,
                ground=Ground.of(sources={"finance": SOURCE}, entries={}, seen=frozenset({SOURCE})),
            )
        )
    assert result.ok, result.failures
    assert api.sent == [
        (
            "clone",
            SOURCE,
            {
                "name": "Finance (finance)",
                "schedule": {"mode": "manual"},
                "transfer": {"transfer_type": "copy", "delete_propagation": ["mirror"]},
            },
        ),
        (
            "patch",
            SOURCE,
            {"kind": "transfer", "transfer_type": "sync", "schedule": {"mode": "manual"}},
        ),
    ]
    assert all(is_plain_json(body) for _, _, body in api.sent)
    saved = store.read().entries["finance"]
    assert saved.original is OriginalPolicy.manual
    assert saved.original_retired is RetireHow.manual
    assert saved.applied == spec.managed_body() and is_plain_json(saved.applied)
    assert saved.applied_digest == digest(
        {
            "schedule": {"mode": "manual"},
            "transfer": {"transfer_type": "copy", "delete_propagation": ["mirror"]},
        }
    )
    assert '"original": "manual"' in (tmp_path / "state.json").read_text()


def test_without_a_date_header_the_name_rule_alone_recognises_the_clone(tmp_path: Path) -> None:
    """No `Date` header, so no server clock: no creation-time bound (not one from our clock).

    The plan refused to clone while any job state does not know bore the name, so such a job
    found now appeared after the plan: it is ours (or, with two, a human must choose).
    """
    name = "Finance archive"
    api = PickySearchApi(
        [
            {"id": NEW, "name": name, "created_on": 10},  # any clock: not compared
            {"id": OLD, "name": name, "created_on": 10},  # state knows it: never a candidate
            {"id": "d" * 32, "name": "Finance archive 2", "created_on": 10},
        ]
    )
    api.server_time = None
    intent = _intent(tmp_path, target=SOURCE, name=name, not_before=api.server_time)
    assert intent.details["not_before"] is None
    found = asyncio.run(find_clone(intent, api=api, known={OLD}))
    assert found is not None and found.id == NEW
    with pytest.raises(ApiError, match="2 jobs named 'Finance archive' could be the clone"):
        asyncio.run(find_clone(intent, api=api, known=set()))


def test_a_move_is_one_journal_record_and_no_call(tmp_path: Path) -> None:
    import json

    from jobspec.plan import PlanOptions

    body = {"schedule": {"mode": "manual"}}
    entry = StateEntry(
        source_id=SOURCE,
        clone_id=OLD,
        original=OriginalPolicy.manual,
        applied=body,
        applied_digest=digest(body),
        original_retired=RetireHow.manual,
    )
    store = FileStateStore(tmp_path / "state.json")
    with store.lock(operation="test") as session:
        session.put("finance", entry)
    spec = JobSpec.model_validate({"source": SOURCE, "overrides": body, "moved_from": "finance"})
    wanted = DesiredJob(address="ledger", spec=spec, location=SourceLocation(file="s.yaml", line=1))
    jobs = [
        {"id": SOURCE, "kind": "transfer", "name": "Finance", "schedule": {"mode": "manual"}},
        {"id": OLD, "kind": "transfer", "name": "Finance clone", **body},
    ]
    api = PickySearchApi(jobs)  # it has no write methods: a call would fail the test
    plan = make_plan(
        desired={"ledger": wanted},
        prior=store.read().entries,
        live={job.id: job for job in api.jobs},
        lineage=store.read().lineage,
        serial=store.read().serial,
        options=PlanOptions(),
    )
    journal = tmp_path / "state.json.journal"
    with store.lock(operation="test") as session:
        before = journal.read_text().splitlines() if journal.exists() else []
        result = asyncio.run(
            apply_plan(  # type: ignore[arg-type]
                plan,
                api=api,
                journal=session,
                concurrency=2,
                settle=0,
                ground=Ground.of(
                    sources={"ledger": SOURCE},
                    entries=store.read().entries,
                    moves={"finance": "ledger"},
                ),
            )
        )
        records = [json.loads(line) for line in journal.read_text().splitlines()[len(before) :]]
    assert result.ok and result.counts["updated"] == 1
    moved = [r for r in records if r["kind"] != "header"]  # a fresh journal's first line
    assert [(r["kind"], r.get("address"), r.get("to")) for r in moved] == [
        ("move", "finance", "ledger")
    ]
    assert set(store.read().entries) == {"ledger"}


class BusyServerApi:
    """Clones that take a few turns of the loop; one loses its reply (the clone is made).

    Its `q` search misses names with punctuation, so the lost clone is looked for in the whole
    list, which, like the real server's paged listing, fails if any clone is being made
    while it is read.
    """

    def __init__(self, sources: dict[str, dict[str, Any]], lose: str) -> None:
        self.jobs = dict(sources)
        self.lose = lose
        self.in_flight = 0
        self.server_time: float | None = None
        self.full_lists = 0

    async def get_job(self, job_id: str) -> LiveJob | None:
        raw = self.jobs.get(job_id)
        return LiveJob.from_raw(raw) if raw is not None else None

    async def list_jobs(self, *, q: str | None = None) -> list[LiveJob]:
        if q is not None and not q.replace(" ", "").isalnum():
            return []
        if self.in_flight:
            raise ApiError("the job list kept changing while it was read", call="GET v1/jobs")
        self.full_lists += q is None
        return [LiveJob.from_raw(raw) for raw in self.jobs.values()]

    async def clone(self, source_id: str, body: dict[str, Any]) -> LiveJob:
        self.in_flight += 1
        try:
            for _ in range(5):
                await asyncio.sleep(0)  # a turn of the loop: other calls run meanwhile
            new_id = f"{0xC10E0000 + len(self.jobs):032x}"
            self.jobs[new_id] = deep_merge(self.jobs[source_id], body) | {"id": new_id}
        finally:
            self.in_flight -= 1
        if body["name"].startswith(self.lose):
            raise OutcomeUnknown("the reply was lost", call=f"POST v1/jobs/{source_id}/clone")
        return LiveJob.from_raw(self.jobs[new_id])

    async def patch(self, job_id: str, body: dict[str, Any]) -> LiveJob:
        return LiveJob.from_raw(self.jobs[job_id])

    async def delete(self, job_id: str) -> bool:
        return self.jobs.pop(job_id, None) is not None


def test_a_lost_clone_is_found_though_the_run_goes_on_cloning(tmp_path: Path) -> None:
    sources = {
        f"{n + 1:032x}": {"id": f"{n + 1:032x}", "name": f"Site {n}", "kind": "transfer"}
        for n in range(12)
    }
    desired = {}
    for n, source_id in enumerate(sources):
        spec = JobSpec.model_validate(
            {"source": source_id, "original": "keep", "overrides": {"name": f"Site-{n}, new"}}
        )
        location = SourceLocation(file="specs/a.yaml", line=n + 1)
        desired[f"site{n}"] = DesiredJob(address=f"site{n}", spec=spec, location=location)
    live = {job_id: LiveJob.from_raw(raw) for job_id, raw in sources.items()}
    plan = make_plan(desired=desired, prior={}, live=live, lineage=None, serial=0)
    api = BusyServerApi(sources, lose="Site-3,")
    store = FileStateStore(tmp_path / "state.json")
    with store.lock(operation="test") as session:
        ground = Ground.of(
            sources={a: d.spec.source for a, d in desired.items()},
            entries={},
            seen=frozenset(sources),
        )
        result = asyncio.run(
            apply_plan(plan, api=api, journal=session, concurrency=8, settle=0, ground=ground)
        )
    assert result.ok, result.failures
    assert api.full_lists == 1  # the lost one, found in the whole list while nothing changed
    assert len(store.read().entries) == 12
