"""Day-2 operations (issue 26) end to end against the emulator: counts, names, lock, jobs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Workspace, standard_specs
from tests.helpers import EmulatorHandle


def test_apply_counts_every_retired_original_in_text_and_json(ws: Workspace) -> None:
    standard_specs(ws)
    planned = json.loads(ws.cli("plan", "--format", "json").stdout)["summary"]
    assert (planned["retire"], planned["delete"], planned["set_manual"]) == (2, 1, 1)
    lines = ws.cli("apply", "--auto-approve", "--json").stdout.splitlines()
    (summary,) = [json.loads(line) for line in lines if '"event":"summary"' in line]
    counts = summary["counts"]
    assert counts["created"] == 3
    assert (counts["retired"], counts["deleted"], counts["set_manual"]) == (2, 1, 1)


def test_apply_end_line_counts_retired_jobs(ws: Workspace) -> None:
    standard_specs(ws)
    out = ws.cli("apply", "--auto-approve").stdout
    assert "3 created" in out
    assert "; 2 jobs retired (1 deleted, 1 set to manual)." in out


def test_a_plan_made_while_an_apply_holds_the_lock_names_the_holder_first(ws: Workspace) -> None:
    standard_specs(ws)
    with ws.store().lock(operation="apply") as session:
        holder = session.lock_info
        text = ws.cli("plan").stdout
        first = text.splitlines()[0]
        assert first.startswith("NOTE: the state is locked by ")
        assert holder.describe() in first and "`apply`" in first and f"pid {holder.pid}" in first
        as_json = ws.cli("plan", "--format", "json")
        assert json.loads(as_json.stdout)["summary"]["create"] == 3  # stdout stays JSON
        assert holder.describe() in as_json.stderr
        markdown = ws.cli("plan", "--format", "markdown").stdout
        assert markdown.startswith("**NOTE: the state is locked** by `")
    after = ws.cli("plan").stdout
    assert after.startswith("WARNING: this plan DELETES"), after[:300]  # released: no note


def _json_ids(text: str) -> set[str]:
    return {row["id"] for row in json.loads(text)}


def test_generate_and_jobs_select_the_jobs_that_use_a_connection(ws: Workspace) -> None:
    moving = "9" * 32  # an all-digit connection id, as the migration had
    reads = ws.seed_source("reads", transfer={"source": {"connection": {"id": moving}}})
    writes = ws.seed_source("writes", transfer={"destination": {"connection": {"id": moving}}})
    other = ws.seed_source("other")
    out = ws.cli("generate", "--connection", moving).stdout
    assert reads in out and writes in out and other not in out
    out = ws.cli("generate", "--source-connection", moving).stdout
    assert reads in out and writes not in out
    out = ws.cli("generate", "--destination-connection", moving, "--path-prefix", "/Sites").stdout
    assert writes in out and reads not in out
    listed = ws.cli("jobs", "--connection", moving, "--format", "json").stdout
    assert _json_ids(listed) == {reads, writes}
    assert {row["role"] for row in json.loads(listed)} == {"unmanaged"}

    ws.add_spec("reads", schedule={"mode": "manual"})
    ws.cli("apply", "--auto-approve")
    clone = ws.state()["reads"].clone_id
    rows = {row["id"]: row for row in json.loads(ws.cli("jobs", "--format", "json").stdout)}
    assert rows[clone]["role"] == "the clone of reads"
    assert rows[reads]["role"] == "the original of reads"
    assert rows[other]["role"] == "unmanaged"
    assert rows[reads]["source"]["connection"] == moving
    text = ws.cli("jobs").stdout
    assert any(
        line.startswith(clone) and line.endswith("the clone of reads") for line in text.splitlines()
    )


def test_generate_all_never_offers_a_clone_of_a_spec_once_state_is_lost(ws: Workspace) -> None:
    if ws.state_url is not None:
        return  # deleting the state is the file's case; the rule is the same
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    clones = [entry.clone_id for entry in ws.state().values()]
    for path in ws.root.glob("jobspec.state.json*"):
        path.unlink()
    made = ws.cli("generate", "--all")
    assert not any(clone in made.stdout for clone in clones)
    assert made.stderr.count("adopt it with `jobspec import --discover`") == 3
    listed = json.loads(ws.cli("jobs", "--format", "json").stdout)
    by_name = {row["id"]: row["role"] for row in listed}
    assert {by_name[c] for c in clones} == {
        f"the clone of {a} (by name; not in state)" for a in ("finance", "hr", "sales")
    }


def _lose_state(ws: Workspace, *, keep_backup: bool) -> None:
    for path in ws.root.glob("jobspec.state.json*"):
        if not (keep_backup and path.name.endswith(".backup")):
            path.unlink()


def test_a_lost_state_refusal_leads_and_import_discover_readopts_every_clone(
    ws: Workspace,
) -> None:
    if ws.state_url is not None:
        return  # deleting the state file is the file's case
    for number in range(30):
        ws.add_spec(f"team-{number:02}", schedule={"mode": "manual"})
    ws.cli("apply", "--auto-approve")
    clones = {address: entry.clone_id for address, entry in ws.state().items()}
    assert len(clones) == 30
    ws.cli("state", "list")  # a checkpoint leaves a backup beside the state

    _lose_state(ws, keep_backup=False)
    refused = ws.cli("plan", expect=1).stderr
    lines = refused.strip().splitlines()
    assert len(lines) <= 25, refused
    assert "run `jobspec import --discover` first: 30 specs' clones already exist" in lines[0]
    assert "and 20 more" in refused
    before = ws.mutations()

    found = ws.cli("import", "--discover")
    assert "30 jobs adopted, 0 addresses left" in found.stderr
    assert {a: e.clone_id for a, e in ws.state().items()} == clones
    assert ws.cli("plan", "--detailed-exitcode").stdout.startswith("No changes.")
    made = ws.cli("generate", "--all")
    assert not any(clone in made.stdout for clone in clones.values())
    assert ws.mutations() == before  # discovery only read the server


def test_a_lost_state_with_a_backup_beside_it_leads_with_state_restore(ws: Workspace) -> None:
    if ws.state_url is not None:
        return
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    ws.cli("apply", "--auto-approve")  # a second write: a backup beside the state
    if not any(ws.root.glob("jobspec.state.json.backup")):
        ws.state_path.with_name("jobspec.state.json.backup").write_bytes(ws.state_path.read_bytes())
    _lose_state(ws, keep_backup=True)
    refused = ws.cli("plan", expect=1).stderr
    assert refused.splitlines()[0].startswith(
        "error: cannot plan: run `jobspec state restore` first"
    ), refused


def test_import_discover_leaves_a_job_that_fails_the_checks_and_says_why(ws: Workspace) -> None:
    standard_specs(ws)
    ws.add_spec("extra", schedule={"mode": "manual"})
    # a job bearing extra's clone name, but copying other folders: not a clone of its source
    ws.emulator.seed(
        [
            {
                **json.loads(json.dumps(_a_job_named("Clone of extra"))),
            }
        ]
    )
    found = ws.cli("import", "--discover")
    assert "left extra: job " in found.stderr and "does not look like a clone" in found.stderr
    assert "left finance: no job is named 'Clone of finance': plan will clone it" in found.stderr
    assert "0 jobs adopted, 4 addresses left" in found.stderr
    assert ws.state() == {}


def _a_job_named(name: str) -> dict[str, object]:
    from tests.helpers import make_job

    return make_job(name=name, transfer={"source": {"target": {"path": "/Elsewhere"}}})


def _rename(ws: Workspace, old: str, new: str, **extra: object) -> None:
    ws.specs[new] = {**ws.specs.pop(old), **extra}
    ws.write_specs()


def test_moved_from_renames_an_address_through_a_reviewed_plan(ws: Workspace) -> None:
    ws.add_spec("finance", schedule={"mode": "manual"})
    ws.cli("apply", "--auto-approve")
    clone = ws.state()["finance"].clone_id

    _rename(ws, "finance", "ledger")
    refused = ws.cli("plan", expect=1).stderr
    assert "add `moved_from: finance` to this spec" in refused

    _rename(ws, "ledger", "ledger", moved_from="finance")
    planned = json.loads(ws.cli("plan", "--format", "json").stdout)
    (action,) = [a for a in planned["actions"] if a["kind"] != "noop"]
    assert action["address"] == "ledger" and action["kind"] == "update"
    assert [step["op"] for step in action["steps"]] == ["move"]
    assert planned["summary"]["create"] == 0 and planned["summary"]["retire"] == 0
    assert "finance → ledger: moved (same clone" in ws.cli("plan").stdout
    before = ws.mutations()
    ws.cli("apply", "--auto-approve")
    assert ws.mutations() == before  # the clone keeps its own name: nothing to call
    assert {a: e.clone_id for a, e in ws.state().items()} == {"ledger": clone}
    assert ws.cli("plan", "--detailed-exitcode").stdout.startswith("No changes.")
    del ws.specs["ledger"]["moved_from"]
    ws.write_specs()
    assert ws.cli("plan", "--detailed-exitcode").stdout.startswith("No changes.")


def test_moved_from_renames_a_clone_whose_name_derives_from_its_address(ws: Workspace) -> None:
    source = ws.seed_source("finance")
    ws.specs["finance"] = {"source": source, "overrides": {"schedule": {"mode": "manual"}}}
    ws.write_specs()
    ws.cli("apply", "--auto-approve")
    clone = ws.state()["finance"].clone_id
    _rename(ws, "finance", "ledger", moved_from=["finance"])
    text = ws.cli("plan").stdout
    assert '"Source of finance (finance)" → "Source of finance (ledger)"' in text
    ws.cli("apply", "--auto-approve")
    live = {job["id"]: job for job in ws.emulator.all_jobs()}
    assert live[clone]["name"] == "Source of finance (ledger)"
    assert ws.state()["ledger"].clone_id == clone
    assert ws.cli("plan", "--detailed-exitcode").stdout.startswith("No changes.")


def test_after_apply_replace_no_two_live_jobs_share_a_name(ws: Workspace) -> None:
    from collections import Counter

    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    old = ws.state()["finance"].clone_id
    planned = ws.cli("plan", "--replace", "finance", expect=None).stdout
    assert '"Clone of finance" and rename it "Clone of finance (replaced ' in planned
    assert 'as "Clone of finance" with the overrides' in planned  # a create shows the name
    ws.cli("apply", "--auto-approve", "--replace", "finance")
    live = [job for job in ws.emulator.all_jobs() if not job.get("deleted")]
    names = Counter(job["name"] for job in live)
    assert all(number == 1 for number in names.values()), names
    kept = {job["id"]: job for job in live}[old]
    assert kept["name"] == f"Clone of finance (replaced {old[:8]})"
    assert kept["schedule"]["mode"] == "manual"
    assert ws.cli("plan", "--detailed-exitcode").stdout.startswith("No changes.")
    made = ws.cli("generate", "--all")
    assert old not in made.stdout and "a replaced clone of finance" in made.stderr


def test_the_unreadable_jobs_warning_shows_once_and_can_be_acknowledged(
    quirky_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    ws = Workspace(root=tmp_path, emulator=quirky_emulator)
    ws.seed_source("finance")
    # --query lists twice (every job, and the server's search): one warning all the same
    warned = ws.cli("generate", "--query", "Source").stderr
    assert warned.count("that jobspec cannot read") == 1
    assert "ignore_unreadable" in warned
    (tmp_path / "jobspec.toml").write_text(
        f'ignore_unreadable = ["system", "{"0" * 32}"]\n', encoding="utf-8"
    )
    quiet = ws.cli("generate", "--query", "Source").stderr
    assert "cannot read" not in quiet
    (tmp_path / "jobspec.toml").write_text('ignore_unreadable = ["system"]\n', encoding="utf-8")
    partly = ws.cli("jobs").stderr
    assert "skipped 1 job(s)" in partly and "Content indexer" not in partly


def test_apply_plan_file_in_a_folder_without_the_specs_says_so(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("plan", "--out", "plan.json")
    (ws.root / "elsewhere").mkdir()
    done = ws.cli("apply", "plan.json", "--specs", "elsewhere", expect=1)
    assert "no spec files in elsewhere: the plan is not compared" in done.stderr
    assert "(removed)" not in done.stderr + done.stdout
    # issue 23's gate: a plan file alone never justifies a first clone; the spec files do
    assert "0 created" in done.stdout and "3 failed" in done.stdout
    assert done.stderr.count("(no spec file read)") >= 3
    ws.cli("plan", "--out", "plan.json")  # the refused run moved the state's serial
    assert "3 created" in ws.cli("apply", "plan.json").stdout  # where the specs are


def test_each_original_is_retired_once_its_own_clone_is_verified(ws: Workspace) -> None:
    """At no moment are more than `concurrency` clones made whose original is not retired
    yet: an interruption leaves at most that many pairs both scheduled."""
    from tests.e2e.test_group_commit_apply import CheckedApi

    for number in range(24):
        ws.add_spec(f"team-{number:02}", schedule={"mode": "manual"})
    sources = set(ws.sources.values())
    open_pairs: set[str] = set()
    most = [0]

    def check(call: str, job_id: str) -> None:
        if call == "clone":
            open_pairs.add(job_id)
        elif job_id in sources:  # the original retired (set to manual)
            open_pairs.discard(job_id)
        most[0] = max(most[0], len(open_pairs))

    outcome = ws.apply_on(ws.store(), concurrency=3, wrap=lambda c: CheckedApi(c, check))
    assert outcome.result is not None and outcome.result.ok
    assert outcome.result.counts["set_manual"] == 24
    assert not open_pairs and 1 <= most[0] <= 3, most[0]
