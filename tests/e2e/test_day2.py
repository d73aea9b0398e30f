"""Day-2 operations (issue 26) end to end against the emulator: counts, names, lock, jobs."""

from __future__ import annotations

import json

from tests.e2e.conftest import Workspace, standard_specs


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
