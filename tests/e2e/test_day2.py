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
