"""plan's formats and exit codes, show, state, unlock and connection errors, over a socket."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Workspace, standard_specs

pytestmark = pytest.mark.quirks  # also against `jobspec emulator --quirks all`


def test_plan_formats_and_detailed_exit_code(ws: Workspace) -> None:
    standard_specs(ws)
    text = ws.cli("plan", "--detailed-exitcode", expect=2)
    first, second = text.stdout.splitlines()[:2]
    assert first.startswith("WARNING: this plan DELETES 1 job on the server")
    assert '"Source of hr" (hr: original)' in first
    assert second.startswith("Plan: 3 to create")
    assert text.stdout.splitlines()[-1] == first
    assert "+ finance: create" in text.stdout
    document = json.loads(ws.cli("plan", "--format", "json").stdout)
    assert document["format_version"] == 1
    assert document["summary"]["create"] == 3
    assert {a["address"] for a in document["actions"]} == {"finance", "hr", "sales"}
    markdown = ws.cli("plan", "--format", "markdown").stdout
    assert markdown.startswith("**WARNING: this plan DELETES 1 job")
    assert "### jobspec plan" in markdown
    assert "<details>" in markdown
    assert ws.mutations() == 0


def test_plan_out_and_show_print_the_same_plan(ws: Workspace) -> None:
    standard_specs(ws)
    planned = ws.cli("plan", "--out", "plan.json")
    shown = ws.cli("show", "plan.json")
    assert shown.stdout == planned.stdout
    assert json.loads((ws.root / "plan.json").read_text())["serial"] == 0


def test_show_refuses_a_file_that_is_not_a_plan(ws: Workspace) -> None:
    (ws.root / "notaplan.json").write_text('{"hello": 1}')
    result = ws.cli("show", "notaplan.json", expect=1)
    assert result.stderr.startswith("error: notaplan.json is not a jobspec plan file")
    assert "Traceback" not in result.stderr


def test_state_list_show_and_rm(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    entries = ws.state()
    listed = ws.cli("state", "list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["finance", "hr", "sales"]
    assert entries["hr"].clone_id in listed[1]
    shown = json.loads(ws.cli("state", "show", "hr").stdout)
    assert shown["clone_id"] == entries["hr"].clone_id
    assert shown["original_retired"] == "deleted"
    ws.cli("state", "rm", "hr")
    assert "hr" not in ws.state()
    missing = ws.cli("state", "show", "hr", expect=1)
    assert "no state entry for hr" in missing.stderr
    # forgetting touched nothing on the server
    live = {job["id"] for job in ws.emulator.all_jobs(include_deleted=False)}
    assert entries["hr"].clone_id in live


def test_unlock_breaks_a_lock_by_its_id_only(ws: Workspace) -> None:
    store = ws.store()
    with store.lock(operation="apply") as session:
        lock_id = session.lock_info.id
        wrong = ws.cli("unlock", "not-the-id", expect=1)
        assert lock_id in wrong.stderr
        ws.cli("unlock", lock_id)
        assert store.lock_info() is None


def test_plain_http_to_a_remote_server_needs_insecure(ws: Workspace) -> None:
    standard_specs(ws)
    result = ws.cli("plan", "--server", "http://dryviq.example.com/", expect=1)
    assert "--insecure" in result.stderr
    assert ws.emulator.stats()["total"] == 0


def test_bad_password_is_one_clear_error_without_the_secret(ws: Workspace) -> None:
    standard_specs(ws)
    env = ws.env
    env["JOBSPEC_PASSWORD"] = "s3cret-wrong"
    from click.testing import CliRunner

    from jobspec.cli import cli

    result = CliRunner().invoke(cli, ["plan", "--specs", str(ws.root / "specs")], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "s3cret-wrong" not in result.output + result.stderr
    assert "Traceback" not in result.stderr


def test_a_spec_typo_is_reported_before_any_request(ws: Workspace) -> None:
    standard_specs(ws)
    path = ws.root / "specs" / "jobs.yaml"
    path.write_text(path.read_text().replace("lock_propagation", "lock_propogation"))
    result = ws.cli("plan", expect=1)
    assert "specs/jobs.yaml:" in result.stderr
    assert "lock_propagation" in result.stderr  # the suggestion
    assert ws.emulator.stats()["total"] == 0


def test_drift_classifies_spec_server_and_source_changes(ws: Workspace) -> None:
    standard_specs(ws)
    assert "new spec, not applied yet" in ws.cli("drift", expect=2).stdout
    ws.cli("apply", "--auto-approve")
    clean = ws.cli("drift", expect=0)
    assert clean.stdout.startswith("No drift")
    token = {"Authorization": f"Bearer {ws.emulator.token()}"}
    http, url = ws.emulator.http, ws.emulator.url
    # the server: someone edits the clone and puts an original back on a schedule
    finance = ws.state()["finance"].clone_id
    http.patch(
        f"{url}v1/jobs/{finance}", json={"kind": "transfer", "name": "Renamed"}, headers=token
    )
    http.patch(
        f"{url}v1/jobs/{ws.sources['finance']}",
        json={"kind": "transfer", "schedule": {"mode": "auto"}},
        headers=token,
    )
    # the source: sales's source gets new transfer settings
    http.patch(
        f"{url}v1/jobs/{ws.sources['sales']}",
        json={"kind": "transfer", "transfer": {"audit_level": "debug"}},
        headers=token,
    )
    # the spec: hr's overrides change
    ws.add_spec("hr", original="delete", schedule={"mode": "manual"}, priority=3)
    found = json.loads(ws.cli("drift", "--format", "json", expect=2).stdout)["findings"]
    kinds = {(item["address"], item["kind"]) for item in found}
    assert kinds == {
        ("finance", "server"),
        ("hr", "spec"),
        ("sales", "source"),
    }
    server = [item["detail"] for item in found if item["address"] == "finance"]
    assert any(detail.startswith('name: clone has "Renamed"') for detail in server)
    assert any("original" in detail and "'auto'" in detail for detail in server)
    assert ws.mutations() == 5 + 3  # the apply and three hand edits: drift changed nothing


def test_target_limits_plan_and_apply(ws: Workspace) -> None:
    standard_specs(ws)
    plan = json.loads(ws.cli("plan", "--target", "hr", "--format", "json").stdout)
    assert [a["address"] for a in plan["actions"]] == ["hr"]
    ws.cli("apply", "--auto-approve", "--target", "hr")
    assert set(ws.state()) == {"hr"}
    unknown = ws.cli("plan", "--target", "nope", expect=1)
    assert "--target names no spec and no state entry: nope" in unknown.stderr


def test_verbose_logs_to_stderr_and_no_color_wins_on_a_terminal(ws: Workspace) -> None:
    standard_specs(ws)
    quiet = ws.spawn("plan").communicate(timeout=60)
    loud = ws.spawn("-vv", "plan").communicate(timeout=60)
    assert "DEBUG" not in quiet[1] and "DEBUG" in loud[1]
    assert loud[0] == quiet[0]  # logs never mix into the plan on stdout
    assert "\x1b[" not in ws.cli("--no-color", "plan").stdout


def test_drift_sees_an_original_rescheduled_after_a_replace(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    ws.add_spec(
        "finance",
        transfer={
            "lock_propagation": "mirror_lock",
            "destination": {"target": {"path": "/Sites/finance/Archive"}},
        },
    )
    ws.cli("apply", "--auto-approve")
    assert ws.state()["finance"].original_retired is not None  # carried over the replace
    token = {"Authorization": f"Bearer {ws.emulator.token()}"}
    ws.emulator.http.patch(
        f"{ws.emulator.url}v1/jobs/{ws.sources['finance']}",
        json={"kind": "transfer", "schedule": {"mode": "auto"}},
        headers=token,
    ).raise_for_status()
    found = ws.cli("drift", expect=2).stdout
    assert f"finance: edited on the server: original {ws.sources['finance']}" in found


def test_a_refused_call_leaves_no_pending_intent_to_block_saved_plans(ws: Workspace) -> None:
    standard_specs(ws)
    ws.cli("apply", "--auto-approve")
    ws.add_spec("finance", transfer={"lock_propagation": "mirror_owner"})
    # the PATCH of the clone keeps being refused (429 on every attempt, then given up)
    ws.emulator.faults(
        retry_after=0,
        targets=[{"route": "PATCH /v1/jobs/{id}", "fault": "429", "count": 50}],
    )
    ws.cli("apply", "--auto-approve", expect=1)
    ws.emulator.faults(targets=[])
    assert ws.store().read().pending_intents() == []
    ws.cli("plan", "--out", "plan.json")
    ws.cli("apply", "plan.json")
    ws.assert_converged()


@pytest.mark.parametrize("as_json", [["--format", "json"], ["--json"]])
def test_apply_json_prints_one_parseable_object_a_line(ws: Workspace, as_json: list[str]) -> None:
    """`--format json`, as every other command says it; `--json` is kept as its alias."""
    standard_specs(ws)
    result = ws.cli("apply", "--auto-approve", *as_json)
    lines = result.stdout.splitlines()
    events = [json.loads(line) for line in lines]  # every line parses on its own
    assert {event["format_version"] for event in events} == {1}
    assert events[0]["event"] == "plan"
    assert events[0]["plan"]["summary"]["create"] == 3
    assert events[-1]["event"] == "summary"
    assert events[-1]["ok"] is True
    assert events[-1]["counts"]["created"] == 3
    steps = [e for e in events if e["event"] == "step"]
    planned = sum(len(a["steps"]) for a in events[0]["plan"]["actions"])
    assert len(steps) == 2 * planned  # each step started, then finished
    clones = [e for e in steps if e["op"] == "clone" and e["status"] == "finished"]
    assert {e["result_job_id"] for e in clones} == {entry.clone_id for entry in ws.state().values()}
    deleted = [e for e in steps if e.get("how") == "deleted" and e["status"] == "finished"]
    assert [e["job_name"] for e in deleted] == ["Source of hr"]
    assert ws.cli("plan", "--detailed-exitcode").exit_code == 0


def test_apply_json_reports_an_error_as_a_line_too(ws: Workspace) -> None:
    (ws.root / "plan.json").write_text('{"hello": 1}')
    result = ws.cli("apply", "plan.json", "--json", expect=1)
    (line,) = result.stdout.splitlines()
    event = json.loads(line)
    assert event["event"] == "error"
    assert "not a jobspec plan file" in event["message"]
    assert result.stderr.startswith("error: ")


@pytest.mark.parametrize("as_json", [["--format", "json"], ["--json"]])
def test_apply_json_will_not_ask(ws: Workspace, as_json: list[str]) -> None:
    standard_specs(ws)
    result = ws.cli("apply", *as_json, expect=1)
    assert "--format json cannot ask for confirmation" in result.stderr
    assert ws.mutations() == 0


APPLY_JSON = ["apply", "--json", "--auto-approve", "--concurrency", "1"]


def test_apply_json_finishes_the_apply_when_its_reader_goes_away(ws: Workspace) -> None:
    """`apply --json | head -1`: the pipe closes after the first line; the apply goes on."""
    import os
    import subprocess
    import sys

    standard_specs(ws)
    # Each request takes 100 ms, so the apply is still writing events when the pipe closes.
    ws.emulator.faults(latency_ms=100)
    with subprocess.Popen(
        [sys.executable, "-c", "from jobspec.cli import main; main()", *APPLY_JSON],
        cwd=ws.root,
        env={**os.environ, **ws.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert json.loads(process.stdout.readline())["event"] == "plan"
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr
    assert "stdout was closed" in stderr
    assert sorted(ws.state()) == ["finance", "hr", "sales"]
