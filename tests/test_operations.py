"""The command sequences, called directly (no CLI) against the in-process emulator.

`apply_cmd.apply` and the others take their collaborators: an `Api` (the real client over an
httpx ASGI transport), a state store, and a listener that records what a person would see.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from jobspec.client import DryvIQClient
from jobspec.commands import adopt as adopt_cmd
from jobspec.commands import apply as apply_cmd
from jobspec.commands import observe as observe_cmd
from jobspec.commands import planfiles
from jobspec.commands import state as state_cmd
from jobspec.drift import DriftKind
from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.errors import LockError, StalePlanError, UsageError
from jobspec.model import DesiredJob, OriginalPolicy, StateEntry, digest
from jobspec.plan import ActionKind, Plan, PlanOptions, Step
from jobspec.settings import PasswordLogin, Settings
from jobspec.spec import load_specs
from jobspec.state import FileStateStore, LockInfo
from tests.helpers import make_job

pytestmark = pytest.mark.anyio

BASE = "http://emulator.test/"
MUTATIONS = ("POST /v1/jobs/{id}/clone", "PATCH /v1/jobs/{id}", "DELETE /v1/jobs/{id}")


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


class World:
    """Specs on disk, a state file, and the emulator in process behind one transport."""

    def __init__(self, root: Path, app: Starlette) -> None:
        self.root = root
        self.transport = httpx.ASGITransport(app=app)
        self.store = FileStateStore(root / "jobspec.state.json")
        self.sources: dict[str, str] = {}

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(transport=self.transport, base_url=BASE) as http:
            reply = await http.request(method, path, **kwargs)
            reply.raise_for_status()
            return reply.json()

    async def seed(self, address: str) -> str:
        body = make_job(
            name=f"Source of {address}",
            transfer={"destination": {"target": {"path": f"/Sites/{address}"}}},
        )
        (job_id,) = (await self.control("POST", "_emulator/jobs", json={"jobs": [body]}))["ids"]
        self.sources[address] = job_id
        return str(job_id)

    def write_specs(self, **originals: str) -> dict[str, DesiredJob]:
        jobs = {
            address: {
                "source": self.sources[address],
                "original": original,
                "overrides": {"name": f"Clone of {address}", "schedule": {"mode": "manual"}},
            }
            for address, original in originals.items()
        }
        folder = self.root / "specs"
        folder.mkdir(exist_ok=True)
        document = json.dumps({"version": 1, "jobs": jobs})
        (folder / "jobs.yaml").write_text(document, encoding="utf-8")
        return load_specs(folder)

    @asynccontextmanager
    async def api(self) -> AsyncIterator[DryvIQClient]:
        settings = Settings(server=BASE, credentials=PasswordLogin("admin", SecretStr("admin")))
        async with DryvIQClient(settings, transport=self.transport) as client:
            yield client

    async def mutations(self) -> int:
        requests = (await self.control("GET", "_emulator/stats"))["requests"]
        return sum(requests.get(route, 0) for route in MUTATIONS)

    async def jobs(self) -> dict[str, dict[str, Any]]:
        listed = await self.control("GET", "_emulator/jobs")
        return {job["id"]: job for job in listed["jobs"] if not job["deleted"]}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    app = create_app(EmulatorConfig())
    yield World(tmp_path, app)
    app.state.emulator.store.close()


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
