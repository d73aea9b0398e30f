"""Issue 14: jobspec never touches, duplicates or deletes a job it does not own.

One test per case of the issue, each named for it, run as the command sequences against the
in-process emulator (the `World` of tests/test_operations.py). Each starts from the wrong
belief a careless pipeline could hold, and checks that nothing is cloned twice, and nothing
that jobspec does not own is changed.
"""

from __future__ import annotations

import json
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
from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.errors import LockError, PlanError, StalePlanError, StateError, UsageError
from jobspec.model import DesiredJob
from jobspec.plan import Plan, PlanOptions, StepOp
from jobspec.settings import PasswordLogin, Settings
from jobspec.spec import load_specs
from jobspec.state import FileStateStore
from tests.helpers import make_job, merged
from tests.world import World, world

pytestmark = pytest.mark.anyio

__all__ = ["world"]  # the fixture, from tests/world.py


def write(world: World, jobs: dict[str, dict[str, Any]]) -> dict[str, DesiredJob]:
    folder = world.root / "specs"
    folder.mkdir(exist_ok=True)
    (folder / "jobs.yaml").write_text(json.dumps({"version": 1, "jobs": jobs}), encoding="utf-8")
    return load_specs(folder)


def by_hand(address: str, **changes: Any) -> dict[str, Any]:
    """A job made by hand from `World.seed(address)`'s source: the same endpoints."""
    endpoints = {"transfer": {"destination": {"target": {"path": f"/Sites/{address}"}}}}
    return make_job(**{"name": f"Clone of {address}", **merged(endpoints, changes)})


async def clones_named(world: World, name: str) -> list[str]:
    return [job_id for job_id, job in (await world.jobs()).items() if job["name"] == name]


async def test_case1_missing_or_empty_state_does_not_clone_again(
    world: World, tmp_path: Path
) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
    (clone,) = await clones_named(world, "Clone of finance")
    before = await world.mutations()

    empty = FileStateStore(tmp_path / "elsewhere" / "jobspec.state.json")
    (tmp_path / "elsewhere").mkdir()
    async with world.api() as api:
        with pytest.raises(PlanError) as refused:
            await apply_cmd.apply(api, empty, desired=desired)
    assert f"jobspec import finance {clone}" in refused.value.message
    assert refused.value.hint is not None and "jobspec import" in refused.value.hint
    assert await world.mutations() == before
    assert await clones_named(world, "Clone of finance") == [clone]
    assert empty.read().entries == {}


async def test_case3_derived_name_equal_to_an_explicit_name_is_refused(world: World) -> None:
    source = await world.seed("a")
    other = await world.seed("b")
    # a's clone gets the derived default name "<source name> (a)"; b names its clone that
    jobs = {
        "a": {"source": source, "overrides": {"schedule": {"mode": "manual"}}},
        "b": {
            "source": other,
            "overrides": {"name": "Source of a (a)", "schedule": {"mode": "manual"}},
        },
    }
    desired = write(world, jobs)
    async with world.api() as api:
        with pytest.raises(PlanError, match="two addresses cannot share a clone name") as refused:
            await apply_cmd.apply(api, world.store, desired=desired)
    assert "a's clone" in refused.value.message and "b:" in refused.value.message
    assert await world.mutations() == 0

    # b alone first, then a: a's new clone would take the name of b's clone
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=write(world, {"b": jobs["b"]}))
        with pytest.raises(PlanError, match="cannot share a clone name") as again:
            await apply_cmd.apply(api, world.store, desired=write(world, jobs))
    assert "'Source of a (a)', the name of a's clone" in again.value.message
    assert len(await clones_named(world, "Source of a (a)")) == 1


async def test_a_live_job_with_the_clone_name_but_no_state_is_adopted_only_on_request(
    world: World,
) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    made = await world.control("POST", "_emulator/jobs", json={"jobs": [by_hand("finance")]})
    (stray,) = made["ids"]
    async with world.api() as api:
        with pytest.raises(PlanError, match=f"jobspec import finance {stray}"):
            await observe_cmd.observe(api, desired=desired, state=world.store.read())
        await adopt_cmd.import_job(
            api, world.store, desired=desired, address="finance", job_id=stray
        )
        observed = await observe_cmd.observe(api, desired=desired, state=world.store.read())
    assert observed.plan.actions[0].clone_id == stray


class GarbledClone(httpx.AsyncBaseTransport):
    """The emulator does every clone, then the reply is replaced by a 2xx nobody can read."""

    def __init__(self, inner: httpx.AsyncBaseTransport, status: int, body: bytes, media: str):
        self.inner, self.status, self.body, self.media = inner, status, body, media

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST" or not request.url.path.endswith("/clone"):
            return response
        await response.aread()
        headers = {"content-type": self.media}
        if "date" in response.headers:
            headers["date"] = response.headers["date"]
        return httpx.Response(self.status, content=self.body, headers=headers)


def _summary(job_id: object) -> bytes:
    return json.dumps({"status": 201, "type": "job", "job": {"id": job_id, "name": "x"}}).encode()


@pytest.mark.parametrize(
    ("status", "body", "media"),
    [
        (201, _summary(None), "application/json"),  # no id
        (201, _summary("not-a-job-id"), "application/json"),  # a malformed id
        (202, b"", "application/json"),  # accepted, nothing said
        (200, b"<html><body>Signed in</body></html>", "text/html"),  # a proxy's page
        (201, b"", "application/json"),  # an empty body
    ],
    ids=["no-id", "malformed-id", "202", "html", "empty"],
)
async def test_case4_unreadable_2xx_clone_reply_is_an_unknown_outcome(
    world: World, status: int, body: bytes, media: str
) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="keep")
    world.transport = GarbledClone(world.transport, status, body, media)  # type: ignore[assignment]
    async with world.api() as api:
        outcome = await apply_cmd.apply(api, world.store, desired=desired)
        assert outcome.result is not None and outcome.result.ok, outcome.result
        again = await apply_cmd.apply(api, world.store, desired=desired)
    assert again.result is None  # nothing left to do: the clone was found and adopted
    (clone,) = await clones_named(world, "Clone of finance")
    state = world.store.read()
    assert state.entries["finance"].clone_id == clone
    assert state.pending_intents() == []


async def test_case6_state_reached_through_a_symlink_stays_one_file_with_one_lock(
    world: World, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    real = shared / "jobspec.state.json"
    link = tmp_path / "runner.state.json"
    link.symlink_to(real)  # dangling until the first write: the file is made where it leads
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    through_link = FileStateStore(link)
    async with world.api() as api:
        await apply_cmd.apply(api, through_link, desired=desired)
    assert link.is_symlink() and real.is_file() and not real.is_symlink()
    assert "finance" in FileStateStore(real).read().entries
    with FileStateStore(real).lock(operation="apply"), pytest.raises(LockError):
        through_link.lock(operation="apply").__enter__()  # one file, so one lock


async def test_case2_import_refuses_a_job_another_address_or_a_spec_owns(world: World) -> None:
    a_source = await world.seed("a")
    await world.seed("b")
    desired = world.write_specs(a="delete", b="delete")
    only_a = apply_cmd.ApplyOptions(plan=PlanOptions(targets=("a",)))
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired, options=only_a)
        a_clone = world.store.read().entries["a"].clone_id
        with pytest.raises(UsageError, match=f"{a_clone} is already the clone of a"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="b", job_id=a_clone
            )
        # a's source is deleted by now (original: delete); b's own source is a spec's source
        with pytest.raises(UsageError, match="is the source of b"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="b", job_id=world.sources["b"]
            )
        with pytest.raises(UsageError, match="is the source of a"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="b", job_id=a_source
            )
        # a job made by hand from a's source: its destination is not b's source's
        made = await world.control("POST", "_emulator/jobs", json={"jobs": [by_hand("a")]})
        (foreign,) = made["ids"]
        with pytest.raises(UsageError, match=r"transfer\.destination\.target\.path"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="b", job_id=foreign
            )
        assert "b" not in world.store.read().entries
        entry = await adopt_cmd.import_job(
            api, world.store, desired=desired, address="b", job_id=foreign, force=True
        )
        assert entry.forced_import
        observed = await observe_cmd.observe(api, desired=desired, state=world.store.read())
    assert [w.address for w in observed.plan.warnings if "--force" in w.message] == ["b"]
    assert a_clone in await world.jobs()  # nothing touched a's clone
    assert all(
        action.clone_id != a_clone for action in observed.plan.actions if action.address == "b"
    )


async def test_state_holding_one_clone_under_two_addresses_is_refused_before_any_call(
    world: World,
) -> None:
    await world.seed("a")
    await world.seed("b")
    desired = world.write_specs(a="delete", b="delete")
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
    entries = world.store.read().entries
    with world.store.lock(operation="test") as session:  # what an edit by hand could do
        session.put("b", entries["b"].model_copy(update={"clone_id": entries["a"].clone_id}))
    before = (await world.control("GET", "_emulator/stats"))["total"]
    async with world.api() as api:
        with pytest.raises(StateError, match="clone of both a and b") as refused:
            await apply_cmd.apply(api, world.store, desired=desired)
        with pytest.raises(StateError, match="clone of both a and b"):
            await observe_cmd.observe(api, desired=desired, state=world.store.read())
    assert refused.value.hint is not None and "jobspec state rm" in refused.value.hint
    assert (await world.control("GET", "_emulator/stats"))["total"] == before
    state_cmd.forget(world.store, address="b")  # the repair the hint names still works
    assert set(world.store.read().entries) == {"a"}


def test_state_naming_an_address_twice_is_refused(tmp_path: Path) -> None:
    entry = {
        "source_id": "a" * 32,
        "clone_id": "b" * 32,
        "original": "manual",
        "applied": {},
        "applied_digest": "x",
    }
    entries = json.dumps({"finance": entry})[:-1] + ", " + json.dumps({"finance": entry})[1:]
    text = (
        '{"format_version": 1, "lineage": "6f1d1bb0-7c57-4d1e-a3de-7cf1f3c86e85", '
        f'"serial": 1, "entries": {entries}, "pending_intents": []}}'
    )
    path = tmp_path / "jobspec.state.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StateError, match="key `finance` appears twice"):
        FileStateStore(path).read()


class DeleteThen500(httpx.AsyncBaseTransport):
    """The emulator deletes, then the reply is replaced by a 500 (a proxy, a crashing node)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.deletes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "DELETE":
            return response
        self.deletes += 1
        await response.aread()
        return httpx.Response(500, json={"errors": [{"description": "internal error"}]})


async def test_case8_delete_answered_500_after_deleting_is_recorded_by_the_next_plan(
    world: World,
) -> None:
    source = await world.seed("finance")
    desired = world.write_specs(finance="delete")
    faulty = DeleteThen500(world.transport)
    world.transport = faulty  # type: ignore[assignment]
    async with world.api() as api:
        first = await apply_cmd.apply(api, world.store, desired=desired)
    assert first.result is not None and not first.result.ok  # the DELETE "failed"
    assert source not in await world.jobs()  # … but the server did delete it
    assert world.store.read().entries["finance"].original_retired is None

    async with world.api() as api:
        second = await apply_cmd.apply(api, world.store, desired=desired)
        (action,) = second.plan.actions
        assert [step.op.value for step in action.steps] == ["record"]
        third = await apply_cmd.apply(api, world.store, desired=desired)
    assert second.result is not None and second.result.ok
    assert faulty.deletes == 1  # recorded from what the plan saw, not deleted again
    assert world.store.read().entries["finance"].original_retired == "deleted"
    assert third.result is None and not third.plan.has_changes


def retarget(plan: Plan, job_id: str) -> Plan:
    """The plan with its first retire step aimed at `job_id`, resealed as an editor could."""
    actions = []
    for action in plan.actions:
        steps = [
            step.model_copy(update={"job_id": job_id}) if step.op is StepOp.retire else step
            for step in action.steps
        ]
        actions.append(action.model_copy(update={"steps": steps}))
    return plan.model_copy(update={"actions": actions})


async def test_case5_an_edited_plan_file_is_refused(world: World, tmp_path: Path) -> None:
    await world.seed("finance")
    bystander = await world.seed("bystander")  # a job nobody manages
    desired = world.write_specs(finance="delete")
    saved = tmp_path / "plan.json"
    async with world.api() as api:
        observed = await observe_cmd.observe(api, desired=desired, state=world.store.read())
    # edited by hand: the seal breaks
    text = observed.plan.to_json().replace(world.sources["finance"], bystander, 1)
    saved.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match="checksum does not match"):
        planfiles.read_plan_file(saved)
    # edited and resealed: the step's target is checked against state and the plan's reads
    planfiles.save_plan_file(retarget(observed.plan, bystander), saved)
    edited = planfiles.read_plan_file(saved)
    async with world.api() as api:
        with pytest.raises(UsageError, match=f"targets job {bystander}"):
            await apply_cmd.apply(api, world.store, saved=edited, desired=desired)
    assert bystander in await world.jobs()
    assert await world.mutations() == 0


async def test_case5_a_plan_made_with_no_state_does_not_apply_twice(
    world: World, tmp_path: Path
) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="keep")  # the source is left as it was: no job moves
    async with world.api() as api:
        first = await observe_cmd.observe(api, desired=desired, state=world.store.read())
        assert first.plan.lineage is None and first.plan.serial == 0
        await apply_cmd.apply(api, world.store, saved=first.plan, desired=desired)
        (clone,) = await clones_named(world, "Clone of finance")
        fresh = FileStateStore(tmp_path / "fresh.state.json")
        with pytest.raises(StalePlanError, match=f"job {clone} is already named"):
            await apply_cmd.apply(api, fresh, saved=first.plan, desired=desired)
        # a later plan, its lineage and serial blanked to pass for a first one
        later = await observe_cmd.observe(api, desired=desired, state=world.store.read())
        blanked = later.plan.model_copy(update={"lineage": None, "serial": 0})
        with pytest.raises(UsageError, match="made with no state"):
            await apply_cmd.apply(api, fresh, saved=blanked, desired=desired)
    assert await clones_named(world, "Clone of finance") == [clone]
    assert fresh.read().entries == {}


async def test_case5_a_plan_whose_spec_files_changed_since_says_so(world: World) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    async with world.api() as api:
        observed = await observe_cmd.observe(api, desired=desired, state=world.store.read())
        edited = world.write_specs(finance="delete")
        with pytest.raises(StalePlanError, match=r"spec files changed .*: finance \(edited\)"):
            await apply_cmd.apply(api, world.store, saved=observed.plan, desired=edited)
    assert await world.mutations() == 0


async def test_case9_state_mv_renames_an_address_without_a_second_clone(world: World) -> None:
    source = await world.seed("finance")
    desired = world.write_specs(finance="manual")
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
    clone = world.store.read().entries["finance"].clone_id
    before = await world.mutations()
    renamed = write(
        world,
        {
            "finance-2026": {
                "source": source,
                "original": "manual",
                "overrides": {"name": "Clone of finance", "schedule": {"mode": "manual"}},
            }
        },
    )
    with pytest.raises(UsageError, match="already has clone"):
        state_cmd.move_address(world.store, old="finance", new="finance")
    assert state_cmd.move_address(world.store, old="finance", new="finance-2026") == clone
    async with world.api() as api:
        outcome = await apply_cmd.apply(api, world.store, desired=renamed)
    assert outcome.result is None and not outcome.plan.has_changes
    assert await world.mutations() == before
    assert list(world.store.read().entries) == ["finance-2026"]


async def test_case9_apply_replace_makes_a_fresh_clone_and_retires_the_old_one(
    world: World,
) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="delete")
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
        old = world.store.read().entries["finance"].clone_id
        with pytest.raises(UsageError, match="--replace names no address"):
            await apply_cmd.apply(
                api,
                world.store,
                desired=desired,
                options=apply_cmd.ApplyOptions(plan=PlanOptions(replace=("x",))),
            )
        options = apply_cmd.ApplyOptions(plan=PlanOptions(replace=("finance",)))
        outcome = await apply_cmd.apply(api, world.store, desired=desired, options=options)
        assert outcome.result is not None and outcome.result.counts["replaced"] == 1
        again = await apply_cmd.apply(api, world.store, desired=desired)
    new = world.store.read().entries["finance"]
    assert new.clone_id != old and new.superseded == []
    live = await world.jobs()
    assert new.clone_id in live and old not in live  # original: delete → the old clone deleted
    assert again.result is None


async def test_case9_source_drift_is_accepted_on_request(world: World) -> None:
    source = await world.seed("finance")
    desired = world.write_specs(finance="manual")
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
        # someone changes the source's transfer settings in the web UI
        await api.patch(source, {"kind": "transfer", "transfer": {"conflict_resolution": "latest"}})
        found = await observe_cmd.drift(api, desired=desired, state=world.store.read())
        assert [d.kind.name for d in found] == ["source"]
        before = await world.mutations()
        options = apply_cmd.ApplyOptions(plan=PlanOptions(accept_source=("finance",)))
        outcome = await apply_cmd.apply(api, world.store, desired=desired, options=options)
        assert [s.op.value for s in outcome.plan.actions[0].steps] == ["record"]
        assert await observe_cmd.drift(api, desired=desired, state=world.store.read()) == []
    assert await world.mutations() == before  # accepted in state; nothing sent to the server


async def test_case7_a_state_refuses_another_server_until_re_pointed(world: World) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="delete")
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
    assert world.store.read().server == "http://emulator.test/"
    # staging, restored from production: the same jobs with the same ids, at another address
    production = await world.control("GET", "_emulator/jobs")
    staging_app = create_app(EmulatorConfig())
    staging = httpx.ASGITransport(app=staging_app)
    async with httpx.AsyncClient(transport=staging, base_url="http://staging.test/") as http:
        copies = [{k: v for k, v in job.items() if k != "deleted"} for job in production["jobs"]]
        (await http.post("_emulator/jobs", json={"jobs": copies})).raise_for_status()
    settings = Settings(
        server="http://STAGING.test:80", credentials=PasswordLogin("admin", SecretStr("admin"))
    )
    try:
        async with DryvIQClient(settings, transport=staging) as there:
            with pytest.raises(StateError, match="belongs to the DryvIQ server") as refused:
                await apply_cmd.apply(there, world.store, desired=desired)
            assert "http://emulator.test/" in refused.value.message
            assert "http://staging.test/" in refused.value.message
            assert "jobspec state set-server http://staging.test/" in str(refused.value.hint)
            assert (await http_total(staging)) == 0  # refused before any call
            # after a real move, the state is re-pointed on purpose
            old = state_cmd.repoint_server(world.store, server="http://staging.test/")
            assert old == "http://emulator.test/"
            outcome = await apply_cmd.apply(there, world.store, desired=desired)
        assert outcome.result is None and not outcome.plan.has_changes
    finally:
        staging_app.state.emulator.store.close()


async def http_total(transport: httpx.AsyncBaseTransport) -> int:
    async with httpx.AsyncClient(transport=transport, base_url="http://staging.test/") as http:
        return int((await http.get("_emulator/stats")).json()["total"])


async def test_import_with_the_source_gone_compares_the_clone_name(world: World) -> None:
    await world.seed("finance")
    desired = world.write_specs(finance="delete")
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
    clone = world.store.read().entries["finance"].clone_id
    state_cmd.forget(world.store, address="finance")  # the state lost it; the source is gone
    made = await world.control(
        "POST", "_emulator/jobs", json={"jobs": [by_hand("finance", name="Something else")]}
    )
    (other,) = made["ids"]
    async with world.api() as api:
        with pytest.raises(UsageError, match="is not the spec's clone name 'Clone of finance'"):
            await adopt_cmd.import_job(
                api, world.store, desired=desired, address="finance", job_id=other
            )
        entry = await adopt_cmd.import_job(
            api, world.store, desired=desired, address="finance", job_id=clone
        )
    assert entry.clone_id == clone and not entry.forced_import


async def test_a_second_replace_is_planned_beside_the_old_clone_the_first_set_to_manual(
    world: World,
) -> None:
    """Under `original: manual` a replace sets the old clone to manual and it stays on the
    server with the clone's name; state remembers it, so the next replace is not refused as
    an unknown job bearing the name (a new user hit this on the tutorial's second move)."""
    await world.seed("finance")
    desired = world.write_specs(finance="manual")
    options = apply_cmd.ApplyOptions(plan=PlanOptions(replace=("finance",)))
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=desired)
        first = world.store.read().entries["finance"].clone_id
        await apply_cmd.apply(api, world.store, desired=desired, options=options)
        second = world.store.read().entries["finance"]
        assert second.retired_clones == [first]
        outcome = await apply_cmd.apply(api, world.store, desired=desired, options=options)
        assert outcome.result is not None and outcome.result.counts["replaced"] == 1
        third = world.store.read().entries["finance"]
        assert third.retired_clones == [first, second.clone_id]
        again = await apply_cmd.apply(api, world.store, desired=desired)
    assert again.result is None  # converged: the old clones are ours, and on manual
    live = await world.jobs()
    assert {job_id: live[job_id]["schedule"]["mode"] for job_id in third.retired_clones} == {
        first: "manual",
        second.clone_id: "manual",
    }
