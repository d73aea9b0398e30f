"""Issue 17's "done when", over a socket against the demo jobs (`jobspec emulator --demo`):
generate → validate → fmt --check → plan; generate again refuses to overwrite; import --from
adopts a batch, or refuses all of it."""

from __future__ import annotations

import json
from pathlib import Path

from jobspec.emulator.demo import BOX_ARCHIVE, demo_jobs
from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle

NEW_SHAREPOINT = BOX_ARCHIVE  # a connection the server has: plan checks (issue 24)
SET_DESTINATION = f"transfer.destination.connection.id={NEW_SHAREPOINT}"


def demo(tmp_path: Path, emulator: EmulatorHandle) -> Workspace:
    emulator.seed(demo_jobs())
    return Workspace(root=tmp_path, emulator=emulator)


def test_generate_a_category_then_validate_fmt_and_plan(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    ws = demo(tmp_path, emulator)
    migrations = sorted(j["id"] for j in demo_jobs() if j["category"]["name"] == "Migrations")
    assert len(migrations) >= 2  # the demo has a category worth selecting
    (ws.root / "specs").mkdir()
    before = emulator.stats()["requests"]
    made = ws.cli(
        "generate", "--category", "Migrations", "--set", SET_DESTINATION, "--out", "specs/gen.yaml"
    )
    after = emulator.stats()["requests"]
    listed = after.get("GET /v1/jobs", 0) - before.get("GET /v1/jobs", 0)
    assert listed == 1  # one listing: 12 jobs fit one page
    assert made.stdout == ""
    assert f"wrote {len(migrations)} specs to specs/gen.yaml (of 12 live jobs)" in made.stderr

    assert ws.cli("validate").stdout == f"ok: {len(migrations)} jobs in 1 file\n"
    ws.cli("fmt", "--check")
    plan = json.loads(ws.cli("plan", "--format", "json").stdout)
    assert plan["summary"]["create"] == len(migrations) == len(plan["actions"])
    assert sorted(action["source_id"] for action in plan["actions"]) == migrations
    for action in plan["actions"]:
        assert action["kind"] == "create"
        (change,) = [c for c in action["changes"] if c["path"].startswith("transfer.dest")]
        assert change["path"] == "transfer.destination.connection.id"
        assert change["after"] == NEW_SHAREPOINT

    written = (ws.root / "specs" / "gen.yaml").read_text(encoding="utf-8")
    again = ws.cli("generate", "--category", "Migrations", "--out", "specs/gen.yaml", expect=1)
    assert again.stderr.startswith("error: specs/gen.yaml exists; generate does not overwrite it")
    assert (ws.root / "specs" / "gen.yaml").read_text(encoding="utf-8") == written
    assert ws.mutations() == 0

    ws.cli("apply", "--auto-approve")
    assert ws.cli("plan", "--detailed-exitcode").stdout.startswith("No changes.")
    rerun = ws.cli("generate", "--category", "Migrations")
    assert rerun.stdout == ""  # every job of the category is a source or a clone in state now
    assert f"left out {2 * len(migrations)} selected jobs" in rerun.stderr


def test_generate_to_stdout_and_its_refusals(tmp_path: Path, emulator: EmulatorHandle) -> None:
    ws = demo(tmp_path, emulator)
    out = ws.cli("generate", "fc052a47df0044d98422423651cf4e47", "--name", "{name} (archive)")
    assert "  legal-file-share-to-box:\n" in out.stdout
    assert "      name: Legal file share to Box (archive)\n" in out.stdout
    refused = ws.cli("generate", "--all", "--set", "status=idle", expect=1)
    assert "`status` is kept by the server" in refused.stderr
    assert "Traceback" not in refused.stderr
    nothing = ws.cli("generate", expect=1)
    assert nothing.stderr.startswith("error: say which jobs to generate specs for")
    assert emulator.stats()["requests"].get("GET /v1/jobs", 0) == 1  # refusals call nothing


def test_import_from_adopts_a_batch_or_refuses_all_of_it(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    ws = demo(tmp_path, emulator)
    sources = {
        "finance-to-sharepoint": "c4d8c04a69224ef0bfaa2f8e920b8792",
        "finance-archive-to-sharepoint": "4871369ea33e4dfda5da86be0810d83b",
    }
    # the admin cloned both by hand last week (a clone keeps its source's category)
    headers = {"Authorization": f"Bearer {emulator.token()}"}
    clones = {}
    for address, source in sources.items():
        name = next(j["name"] for j in demo_jobs() if j["id"] == source) + " 2026"
        reply = emulator.http.post(
            f"{emulator.url}v1/jobs/{source}/clone", json={"name": name}, headers=headers
        )
        clones[address] = reply.json()["job"]["id"]
    (ws.root / "specs").mkdir()
    made = ws.cli(
        "generate", "--category", "Finance", "--name", "{name} 2026", "--out", "specs/f.yaml"
    )
    # the hand-made clones get no spec: generate names them as the clones to import
    assert "wrote 2 specs to specs/f.yaml" in made.stderr
    rows = [line.strip() for line in made.stderr.splitlines() if line.startswith("  finance")]
    assert rows == [f"{a},{c}" for a, c in sorted(clones.items())]

    bad = ws.root / "bad.csv"
    bad.write_text(
        "address,job_id\n"
        f"finance-to-sharepoint,{clones['finance-to-sharepoint']}\n"
        f"finance-archive-to-sharepoint,{sources['finance-to-sharepoint']}\n",
        encoding="utf-8",
    )
    refused = ws.cli("import", "--from", "bad.csv", expect=1)
    assert refused.stderr.startswith("error: import refused: 1 problem in 2 rows")
    assert "bad.csv:3: finance-archive-to-sharepoint: job c4d8c04a" in refused.stderr
    assert "is the source of finance-to-sharepoint" in refused.stderr
    assert ws.state() == {}

    (ws.root / "imports.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = ws.cli("import", "--from", "imports.csv")
    assert sorted(done.stdout.splitlines()) == sorted(
        f"imported {c} as {a}" for a, c in clones.items()
    )
    assert {a: e.clone_id for a, e in ws.state().items()} == clones
    plan = json.loads(ws.cli("plan", "--format", "json").stdout)
    assert plan["summary"]["create"] == 0
    assert ws.mutations() == 2  # the two clones made by hand


def test_import_takes_a_pair_or_a_file(tmp_path: Path, emulator: EmulatorHandle) -> None:
    ws = demo(tmp_path, emulator)
    neither = ws.cli("import", expect=1)
    assert neither.stderr.startswith("error: give ADDRESS JOB_ID, or --from FILE")
    (ws.root / "rows.csv").write_text("a,b\n", encoding="utf-8")
    both = ws.cli("import", "finance", "--from", "rows.csv", expect=1)
    assert both.stderr.startswith("error: give ADDRESS JOB_ID or --from FILE, not both")
    assert emulator.stats()["total"] == 0
