"""Issue 14 end to end: a second apply with an empty state makes no clone and says how to adopt."""

from __future__ import annotations

from tests.e2e.conftest import Workspace


def test_a_second_apply_with_an_empty_state_makes_no_clone_and_exits_1_with_the_adopt_hint(
    ws: Workspace,
) -> None:
    ws.add_spec("finance", schedule={"mode": "manual"})
    ws.add_spec("legal", original="delete", schedule={"mode": "manual"})
    ws.cli("apply", "--auto-approve")
    clones = {address: entry.clone_id for address, entry in ws.state().items()}
    made = ws.mutations()

    result = ws.cli("apply", "--auto-approve", "--state", "empty.state.json", expect=1)
    assert ws.mutations() == made  # no clone, no retire: nothing at all
    # an empty state: the refusal leads with the command that adopts them all (issue 26), and
    # still names each clone's own import
    assert "cannot plan: run `jobspec import --discover` first: 2 specs' clones" in result.stderr
    for address, clone in clones.items():
        assert f"`jobspec import {address} {clone}`" in result.stderr
    assert "Traceback" not in result.stderr

    # adopting them as the hint says makes the empty state whole again
    for address, clone in clones.items():
        ws.cli("import", address, clone, "--state", "empty.state.json")
    ws.cli("apply", "--auto-approve", "--state", "empty.state.json")
    assert ws.mutations() == made
    replan = ws.cli("plan", "--detailed-exitcode", "--state", "empty.state.json")
    assert replan.stdout.startswith("No changes.")
