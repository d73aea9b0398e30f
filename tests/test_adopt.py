"""Issue 17: bringing an existing estate under management, as the command sequences
(`generate_cmd.generate_specs`, `adopt_cmd.import_batch`) against the in-process emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobspec.commands import (
    adopt as adopt_cmd,
    apply as apply_cmd,
    generate as generate_cmd,
    observe as observe_cmd,
)
from jobspec.errors import UsageError
from jobspec.generate import Selection
from jobspec.model import DesiredJob
from jobspec.spec import load_specs
from tests.helpers import make_job, merged
from tests.world import World, world

pytestmark = pytest.mark.anyio

__all__ = ["world"]

NEW_CONNECTION = "0e3b9a4f5c6d4e7f8a9b0c1d2e3f4a5b"


async def seed(world: World, *names: str, **changes: Any) -> list[str]:
    bodies = []
    for name in names:
        own = {
            "transfer": {
                "source": {"target": {"path": f"/{name}"}},
                "destination": {"target": {"path": f"/Sites/{name}"}},
            }
        }
        bodies.append(make_job(name=name, **merged(own, changes)))
    ids: list[str] = (await world.control("POST", "_emulator/jobs", json={"jobs": bodies}))["ids"]
    return ids


async def requests(world: World) -> dict[str, int]:
    counted: dict[str, int] = (await world.control("GET", "_emulator/stats"))["requests"]
    return counted


def write(world: World, jobs: dict[str, dict[str, Any]], name: str = "jobs.yaml") -> None:
    folder = world.root / "specs"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps({"version": 1, "jobs": jobs}), encoding="utf-8")


def specs(world: World) -> dict[str, DesiredJob]:
    return load_specs(world.root / "specs")


# --- generate -----------------------------------------------------------------------------------


async def test_generate_reads_one_listing_and_writes_specs_that_load(world: World) -> None:
    finance = await seed(world, "Finance", "Finance archive", category={"id": 2, "name": "Fin"})
    await seed(world, "HR", "Sales")
    out = world.root / "specs" / "gen.yaml"
    out.parent.mkdir()
    async with world.api() as api:
        outcome = await generate_cmd.generate_specs(
            api,
            selection=Selection(category="fin"),
            state=world.store.read(),
            desired={},
            sets=[f"transfer.destination.connection.id={NEW_CONNECTION}"],
            out=out,
        )
    assert await requests(world) == {"POST /connect/token": 1, "GET /v1/jobs": 1}
    assert outcome.listed == 4 and outcome.generated.left_out == []
    assert out.read_text(encoding="utf-8") == outcome.text
    desired = specs(world)
    assert sorted(desired) == ["finance", "finance-archive"]
    assert {d.spec.source for d in desired.values()} == set(finance)
    for wanted in desired.values():
        connection = wanted.spec.managed_body()["transfer"]["destination"]["connection"]
        assert connection == {"id": NEW_CONNECTION}
    assert await world.mutations() == 0


async def test_generate_leaves_out_what_state_and_specs_own_and_says_why(world: World) -> None:
    finance, hr, sales = await seed(world, "Finance", "HR", "Sales")
    write(
        world,
        {
            "finance": {
                "source": finance,
                "overrides": {"name": "Clone of finance", "schedule": {"mode": "manual"}},
            }
        },
    )
    async with world.api() as api:
        await apply_cmd.apply(api, world.store, desired=specs(world))
    clone = world.store.read().entries["finance"].clone_id
    write(world, {"hr": {"source": hr}}, name="hr.yaml")
    async with world.api() as api:
        outcome = await generate_cmd.generate_specs(
            api, selection=Selection(every=True), state=world.store.read(), desired=specs(world)
        )
    assert [new.job.id for new in outcome.generated.specs] == [sales]
    assert [(left.job.id, left.reason) for left in outcome.generated.left_out] == [
        (clone, "managed: the clone of finance in state"),
        (finance, "already the source of finance in state"),
        (hr, f"already the source of hr ({specs(world)['hr'].location})"),
    ]


async def test_generate_never_overwrites_unless_forced_and_then_regenerates_the_same(
    world: World,
) -> None:
    await seed(world, "Finance", "HR")
    out = world.root / "specs" / "gen.yaml"
    out.parent.mkdir()
    options: dict[str, Any] = {"selection": Selection(every=True), "sets": ["priority=2"]}
    async with world.api() as api:
        first = await generate_cmd.generate_specs(
            api, state=world.store.read(), desired={}, out=out, **options
        )
        before = await requests(world)
        with pytest.raises(UsageError, match="exists; generate does not overwrite it"):
            await generate_cmd.generate_specs(
                api, state=world.store.read(), desired=specs(world), out=out, **options
            )
        assert await requests(world) == before  # refused before any call
        # --force: the file's own specs are what is regenerated, not sources to leave out
        again = await generate_cmd.generate_specs(
            api, state=world.store.read(), desired=specs(world), out=out, force=True, **options
        )
    assert [new.address for new in again.generated.specs] == ["finance", "hr"]
    assert out.read_text(encoding="utf-8") == first.text == again.text


async def test_generate_by_query_uses_the_server_filter(world: World) -> None:
    await seed(world, "Finance to SharePoint", "Finance archive", "HR")
    async with world.api() as api:
        outcome = await generate_cmd.generate_specs(
            api, selection=Selection(query="archive"), state=world.store.read(), desired={}
        )
    assert [new.address for new in outcome.generated.specs] == ["finance-archive"]
    assert outcome.listed == 3  # names are checked against every live job


async def test_generate_refuses_bad_sets_before_any_call(world: World) -> None:
    await seed(world, "Finance")
    async with world.api() as api:
        with pytest.raises(UsageError) as refused:
            await generate_cmd.generate_specs(
                api,
                selection=Selection(every=True),
                state=world.store.read(),
                desired={},
                sets=["status=idle", "transfer.transfer_type=cpy"],
            )
    assert refused.value.message.startswith("cannot generate: 2 problems")
    assert await requests(world) == {}


# --- import --from ------------------------------------------------------------------------------


async def by_hand(world: World, source: str, name: str) -> str:
    """A clone made by hand, as an admin would with curl: same endpoints as the source."""
    async with world.api() as api:
        made = await api.clone(source, {"name": name})
    return made.id


async def estate(world: World) -> dict[str, str]:
    """Three sources with specs, and a clone of each made by hand: address → clone id."""
    ids = await seed(world, "Finance", "HR", "Sales")
    sources = dict(zip(("finance", "hr", "sales"), ids, strict=True))
    write(world, {a: {"source": s, "overrides": {"name": f"{a} 2026"}} for a, s in sources.items()})
    return {a: await by_hand(world, s, f"{a} 2026") for a, s in sources.items()}


def rows_file(world: World, rows: dict[str, str], suffix: str) -> Path:
    path = world.root / f"imports{suffix}"
    if suffix == ".csv":
        lines = ["address,job_id", *(f"{a},{j}" for a, j in rows.items())]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path.write_text("".join(f"{a}: '{j}'\n" for a, j in rows.items()), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".yaml"])
async def test_import_from_adopts_the_batch_under_one_lock(world: World, suffix: str) -> None:
    clones = await estate(world)
    rows = adopt_cmd.read_import_file(rows_file(world, clones, suffix))
    assert [(row.address, row.job_id) for row in rows] == list(clones.items())
    async with world.api() as api:
        done = await adopt_cmd.import_batch(api, world.store, desired=specs(world), rows=rows)
    assert {a: e.clone_id for a, e in done.imported.items()} == clones
    state = world.store.read()
    assert {a: e.clone_id for a, e in state.entries.items()} == clones
    # the next plan verifies them and finds nothing to clone
    async with world.api() as api:
        observed = await observe_cmd.observe(api, desired=specs(world), state=state)
    assert not any(step.op.value == "clone" for a in observed.plan.actions for step in a.steps)

    async with world.api() as api:  # a rerun (say, after an interrupted import) does nothing
        again = await adopt_cmd.import_batch(api, world.store, desired=specs(world), rows=rows)
    assert again.imported == {} and again.already == list(clones)
    assert world.store.read().serial == state.serial


async def test_import_from_refuses_the_whole_batch_listing_every_problem(world: World) -> None:
    clones = await estate(world)
    sources = {a: d.spec.source for a, d in specs(world).items()}
    (other,) = await seed(world, "Other", transfer={"source": {"target": {"path": "/Other"}}})
    rows = {
        "finance": clones["finance"],  # fine on its own
        "hr": sources["sales"],  # the source of another spec
        "sales": other,  # its endpoint differs from the source's
    }
    path = rows_file(world, rows, ".csv")
    with path.open("a", encoding="utf-8") as stream:
        stream.write(f"nowhere,{clones['hr']}\nfinance,{clones['sales']}\n")
    before = world.store.read()
    async with world.api() as api:
        with pytest.raises(UsageError) as refused:
            await adopt_cmd.import_batch(
                api,
                world.store,
                desired=specs(world),
                rows=adopt_cmd.read_import_file(path),
            )
    message = refused.value.message
    # offline problems first: the rows that can never be right
    assert message.startswith("import refused: 2 problems in 5 rows; nothing was imported")
    assert f"{path}:5: no spec has the address nowhere" in message
    assert f"{path}:6: finance is imported at {path}:2 already" in message
    assert world.store.read().entries == before.entries

    path = rows_file(world, rows, ".csv")
    async with world.api() as api:
        with pytest.raises(UsageError) as refused:
            await adopt_cmd.import_batch(
                api, world.store, desired=specs(world), rows=adopt_cmd.read_import_file(path)
            )
    message = refused.value.message
    assert message.startswith("import refused: 2 problems in 3 rows; nothing was imported")
    assert f"{path}:3: hr: job {sources['sales']} is the source of sales" in message
    assert f"{path}:4: sales: job {other} does not look like a clone" in message
    assert "transfer.source.target.path is '/Other'" in message
    assert world.store.read().entries == {}  # not even finance, whose row was fine
    assert await world.mutations() == 3  # the three clones made by hand; nothing since


async def test_import_from_refuses_a_job_state_already_holds(world: World) -> None:
    clones = await estate(world)
    async with world.api() as api:
        await adopt_cmd.import_job(
            api, world.store, desired=specs(world), address="finance", job_id=clones["finance"]
        )
        rows = adopt_cmd.read_import_file(
            rows_file(world, {"hr": clones["finance"], "sales": clones["sales"]}, ".yaml")
        )
        with pytest.raises(UsageError, match=r"imports.yaml:1: hr: job \w+ is already the clone"):
            await adopt_cmd.import_batch(api, world.store, desired=specs(world), rows=rows)
    assert sorted(world.store.read().entries) == ["finance"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.csv", "address,job_id\nfinance\n", "bad.csv:2: expected two columns"),
        ("bad.yaml", "- finance\n", "expected a mapping of address to job id"),
        ("bad.yaml", "finance: 123\n", "expected `address: job_id` (both text; quote"),
        ("bad.yaml", "finance: [x\n", "YAML syntax"),
        ("bad.json", "{}", "must be YAML (.yaml, .yml) or CSV (.csv)"),
        ("empty.csv", "address,job_id\n", "names no address to import"),
    ],
)
def test_import_files_that_cannot_be_read_are_refused(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        adopt_cmd.read_import_file(path)
