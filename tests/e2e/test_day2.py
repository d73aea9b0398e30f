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
