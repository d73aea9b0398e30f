"""Issue 19 end to end: restores start a new serial epoch, plans fingerprint what the
conflict check read, and an imported entry is as complete as one apply wrote."""

from __future__ import annotations

import json

from jobspec.state import SERIAL_EPOCH
from tests.e2e.conftest import Workspace, standard_specs


def test_a_plan_saved_before_a_restore_is_refused_after_it(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    ws.add_spec("finance", original="manual", transfer={"lock_propagation": "mirror_owner"})
    ws.cli("plan", "--out", "old.json")
    serial = json.loads((ws.root / "old.json").read_text())["serial"]
    ws.cli(
        "state", "rm", "sales"
    )  # a change to state only: the jobs old.json read stay as they were
    if ws.state_url is not None:
        refused = ws.cli("state", "restore", expect=1)
        assert "keeps no backup" in refused.stderr and "state push" in refused.stderr
        return
    restored = ws.cli("state", "restore")
    assert f"(its serial {serial}) as serial {SERIAL_EPOCH}" in restored.stdout
    assert "sales" in ws.state()  # the backup: the state as old.json saw it
    kept = sorted(p.name for p in ws.root.iterdir() if "before-restore" in p.name)
    assert len(kept) == 1 and kept[0].startswith("jobspec.state.json.before-restore-")
    before = ws.mutations()
    stale = ws.cli("apply", "old.json", expect=1)
    assert f"the state moved from serial {serial} to {SERIAL_EPOCH}" in stale.stderr
    assert ws.mutations() == before
    ws.cli("apply", "--auto-approve")
    ws.assert_converged()
