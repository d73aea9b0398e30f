"""The command sequences, called directly (no CLI) against the in-process emulator.

`apply_cmd.apply` and the others take their collaborators: an `Api` (the real client over an
httpx ASGI transport), a state store, and a listener that records what a person would see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jobspec.client import DryvIQClient
from jobspec.commands import (
    adopt as adopt_cmd,
    apply as apply_cmd,
    observe as observe_cmd,
    planfiles,
    state as state_cmd,
)
from jobspec.drift import DriftKind
from jobspec.errors import LockError, PlanError, StalePlanError, UsageError
from jobspec.model import OriginalPolicy, StateEntry, digest
from jobspec.plan import ActionKind, Plan, PlanOptions, Step
from jobspec.settings import PasswordLogin, Settings
from jobspec.spec import load_specs
from jobspec.state import FileStateStore, LockInfo
from tests.helpers import make_job
from tests.world import BASE, World, world

__all__ = ["world"]  # the fixture, from tests/world.py

pytestmark = pytest.mark.anyio


class Recorder:
    """An ApplyListener that notes every event and answers `confirm` as told."""

    def __init__(self, *, approve: bool = True) -> None:
        self.approve = approve
        self.events: list[tuple[str, Any]] = []

    def lock_wait(self, holder: LockInfo) -> None:
        self.events.append(("lock_wait", holder.operation))

    def warning(self, text: str) -> None:
        self.events.append(("warning", text))

    def step(self, address: str, message: str) -> None:
        self.events.append(("step", address))

    def planned(self, plan: Plan) -> None:
        self.events.append(("planned", plan.summary))

    def confirm(self, plan: Plan) -> bool:
        self.events.append(("confirm", None))
        return self.approve

    @contextmanager
    def _applying(self) -> Iterator[None]:
        self.events.append(("applying", "start"))
        yield
        self.events.append(("applying", "end"))

    def applying(self, plan: Plan) -> AbstractContextManager[None]:
        return self._applying()

    def done(self, address: str, ok: bool) -> None:
        self.events.append(("done", (address, ok)))

    def step_event(self, address: str, step: Step, status: str, detail: str | None) -> None:
        self.events.append(("step_event", (address, step.op.value, status)))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


async def test_apply_plans_confirms_applies_and_saves(world: World) -> None:
    await world.seed("finance")
    await world.seed("hr")
    desired = world.write_specs(finance="manual", hr="delete")
    heard = Recorder()
    async with world.api() as api:
        outcome = await apply_cmd.apply(api, world.store, desired=desired, listener=heard)
    assert outcome.result is not None and outcome.result.ok
    assert outcome.result.counts["created"] == 2
    kinds = heard.kinds()
    assert kinds.index("planned") < kinds.index("confirm") < kinds.index("applying")
    assert kinds[-1] == "applying" and heard.events[-1] == ("applying", "end")
    assert sorted(event for kind, event in heard.events if kind == "done") == [
        ("finance", True),
        ("hr", True),
    ]
    state = world.store.read()
    live = await world.jobs()
    assert {state.entries[a].clone_id for a in ("finance", "hr")} <= live.keys()
    assert world.sources["hr"] not in live  # original: delete
    assert live[world.sources["finance"]]["schedule"]["mode"] == "manual"

    again = Recorder()
    async with world.api() as api:
        second = await apply_cmd.apply(api, world.store, desired=desired, listener=again)
    assert second.result is None and not second.plan.has_changes
    assert "confirm" not in again.kinds()  # nothing to ask about


async def test_apply_not_confirmed_changes_nothing(world: World) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="delete")
    async with world.api() as api:
        with pytest.raises(UsageError, match="apply cancelled"):
            await apply_cmd.apply(
                api, world.store, desired=desired, listener=Recorder(approve=False)
            )
    assert await world.mutations() == 0
    assert world.store.read().entries == {}


async def test_saved_plan_runs_once_then_is_stale(world: World) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    async with world.api() as api:
        observed = await observe_cmd.observe(api, desired=desired, state=world.store.read())
        saved = observed.plan
        assert [action.kind for action in saved.actions] == [ActionKind.create]
        # the spec files justify the clone's source (issue 23: never the plan file alone)
        outcome = await apply_cmd.apply(api, world.store, saved=saved, desired=desired)
        assert outcome.result is not None and outcome.result.counts["created"] == 1
        with pytest.raises(StalePlanError, match="state moved"):
            await apply_cmd.apply(api, world.store, saved=saved)
    assert await world.mutations() == 2  # one clone, one PATCH to manual: not twice


async def test_saved_plan_refuses_targets(world: World) -> None:
    options = apply_cmd.ApplyOptions(plan=PlanOptions(targets=("finance",)))
    async with world.api() as api:
        with pytest.raises(UsageError, match="saved plan runs as it is"):
            await apply_cmd.apply(
                api, world.store, saved=Plan(lineage=None, serial=0), options=options
            )


async def test_apply_fails_fast_on_a_held_lock_naming_the_holder(world: World) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    with world.store.lock(operation="state rm"):
        async with world.api() as api:
            with pytest.raises(LockError, match="state rm"):
                await apply_cmd.apply(api, world.store, desired=desired)
    assert await world.mutations() == 0


async def test_import_then_drift_then_forget(world: World) -> None:
    source = await world.seed("finance")
    desired = world.write_specs(finance="keep")
    # made by hand from the source: the same endpoints (import checks them)
    by_hand = make_job(
        name="Clone of finance",
        transfer={"destination": {"target": {"path": "/Sites/finance"}}},
    )
    made = await world.control("POST", "_emulator/jobs", json={"jobs": [by_hand]})
    (clone,) = made["ids"]
    async with world.api() as api:
        with pytest.raises(UsageError, match="not a job id"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="finance", job_id="nope"
            )
        with pytest.raises(UsageError, match="is the source of finance"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="finance", job_id=source
            )
        entry = await adopt_cmd.import_job(
            api, world.store, desired=desired, address="finance", job_id=clone
        )
        assert entry.clone_id == clone
        with pytest.raises(UsageError, match="already has clone"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="finance", job_id=clone
            )
        found = await observe_cmd.drift(api, desired=desired, state=world.store.read())
    # the hand-made clone runs on schedule auto; the spec says manual
    assert [(d.address, d.kind) for d in found] == [("finance", DriftKind.spec)]
    assert state_cmd.forget(world.store, address="finance") == clone
    assert world.store.read().entries == {}
    with pytest.raises(UsageError, match="no state entry"):
        state_cmd.forget(world.store, address="finance")


def test_copy_state_pushes_a_file_into_another(tmp_path: Path) -> None:
    first = FileStateStore(tmp_path / "a.json")
    entry = StateEntry(
        source_id="a" * 32,
        clone_id="b" * 32,
        original=OriginalPolicy.manual,
        applied={},
        applied_digest=digest({}),
    )
    with first.lock(operation="test") as session:
        session.put("finance", entry)
    configured = FileStateStore(tmp_path / "b.json")
    copied = state_cmd.copy_state(
        configured, source=str(tmp_path / "a.json"), target=None, force=False
    )
    assert copied.transfer.after is not None
    assert configured.read().entries == {"finance": entry}
    assert configured.read().lineage == first.read().lineage
    with pytest.raises(UsageError, match="does not exist"):
        state_cmd.copy_state(
            configured, source=str(tmp_path / "missing.json"), target=None, force=False
        )


def test_plan_files_round_trip_and_refuse_what_is_not_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    planfiles.save_plan_file(Plan(lineage=None, serial=3), path)
    assert planfiles.read_plan_file(path).serial == 3
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(UsageError, match="not a jobspec plan file"):
        planfiles.read_plan_file(path)
    with pytest.raises(UsageError, match="cannot write the plan"):
        planfiles.save_plan_file(
            Plan(lineage=None, serial=0), tmp_path / "no-such-dir" / "plan.json"
        )


class NoConnectionsRoute(httpx.AsyncBaseTransport):
    """The emulator, as a server without `GET v1/connections` (404) would answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/connections"):
            return httpx.Response(404, json={"errors": [{"description": "not found"}]})
        return await self.inner.handle_async_request(request)


async def test_connection_ids_a_server_cannot_list_are_a_warning_and_names_a_refusal(
    world: World,
) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    spec = json.loads((world.root / "specs" / "jobs.yaml").read_text(encoding="utf-8"))
    transfer = {"destination": {"connection": {"id": "nowhere"}, "target": {"path": "/x"}}}
    spec["jobs"]["finance"]["overrides"]["transfer"] = transfer
    (world.root / "specs" / "jobs.yaml").write_text(json.dumps(spec), encoding="utf-8")
    desired = load_specs(world.root / "specs")
    settings = Settings(server=BASE, credentials=PasswordLogin("admin", SecretStr("admin")))
    transport = NoConnectionsRoute(world.transport)
    async with DryvIQClient(settings, transport=transport) as api:
        observed = await observe_cmd.observe(api, desired=desired, state=world.store.read())
        (warning,) = observed.plan.warnings
        assert "connection nowhere was not checked" in warning.message
        transfer["destination"]["connection"] = {"name": "Box Archive"}
        (world.root / "specs" / "jobs.yaml").write_text(json.dumps(spec), encoding="utf-8")
        with pytest.raises(PlanError, match="the server lists no connections"):
            await observe_cmd.observe(
                api, desired=load_specs(world.root / "specs"), state=world.store.read()
            )
