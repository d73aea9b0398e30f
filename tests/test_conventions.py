"""Terraform's conventions (issue 27, item 3): `version`, JSON from validate and state list,
`state pull -` / `state push -`, and every jobspec.toml setting as a JOBSPEC_ variable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jobspec import __version__
from jobspec.cli import cli
from jobspec.errors import Problem
from jobspec.plan import Plan
from jobspec.views import validate_report
from jobspec.views.versions import DEPENDENCIES, version_report
from tests.planner.helpers import SOURCE, entry, live_job, plan_of

DATA = Path(__file__).parent / "data"
STATE = DATA / "state" / "v1.json"


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


# --- version ------------------------------------------------------------------------------------


def test_version_json_names_jobspec_and_its_main_dependencies() -> None:
    result = run("version", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["jobspec"] == __version__
    assert set(document["dependencies"]) == set(DEPENDENCIES)
    assert document["dependencies"]["pydantic"]  # installed: a version string
    assert document["python"].count(".") == 2


def test_version_text_says_which_extra_installs_a_missing_dependency() -> None:
    shown = version_report(
        jobspec="0.3.0",
        python="3.12.1",
        platform="linux",
        dependencies={"click": "8.2.1", "psycopg": None},
        output_format="text",
    )
    assert shown.out == (
        "jobspec 0.3.0\nPython 3.12.1 on linux\n"
        "  click    8.2.1\n  psycopg  not installed (extra `postgres`)\n"
    )
    as_json = version_report(
        jobspec="0.3.0",
        python="3.12.1",
        platform="linux",
        dependencies={"psycopg": None},
        output_format="json",
    )
    assert json.loads(as_json.out)["dependencies"] == {"psycopg": None}


def test_the_version_option_still_works() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


# --- validate -----------------------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(DATA / "specs-broken", tmp_path / "specs")
    return tmp_path


def test_validate_json_gives_every_problem_with_its_position(broken: Path) -> None:
    text = run("validate", "--format", "text")
    result = run("validate", "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False
    problems = document["problems"]
    assert len(problems) == len(text.stdout.splitlines()) > 1
    for problem, line in zip(problems, text.stdout.splitlines(), strict=True):
        assert set(problem) == {"file", "line", "column", "message", "hint"}
        assert str(Problem(**problem)) == line  # the same problems the text shows
    assert "problem" in result.stderr  # the count stays on stderr


def test_validate_json_of_clean_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(DATA / "specs-valid", tmp_path / "specs")
    result = run("validate", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["valid"] is True and document["problems"] == []
    assert document["jobs"] > 0 and document["files"] > 0
    gitlab = run("validate", "--format", "gitlab")
    assert gitlab.exit_code == 0 and json.loads(gitlab.stdout) == []


def test_validate_gitlab_is_a_code_quality_report(broken: Path) -> None:
    result = run("validate", "--format", "gitlab")
    assert result.exit_code == 1
    issues = json.loads(result.stdout)
    assert issues
    for issue in issues:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(issue)
        assert issue["location"]["path"].startswith("specs")
        assert issue["location"]["lines"]["begin"] >= 1
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)


def test_a_gitlab_fingerprint_is_stable_and_tells_problems_apart() -> None:
    one = Problem("specs/a.yaml", 3, 5, "unknown key `x`")

    def fingerprints(*problems: Problem) -> list[str]:
        screen = validate_report(jobs=0, files=1, problems=problems, output_format="gitlab")
        return [issue["fingerprint"] for issue in json.loads(screen.out)]

    assert fingerprints(one) == fingerprints(one)
    assert fingerprints(one) != fingerprints(Problem("specs/a.yaml", 4, 5, "unknown key `x`"))


# --- state list, pull -, push - -----------------------------------------------------------------


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for found in STATE.parent.glob("v1.json*"):
        shutil.copy(found, tmp_path / found.name.replace("v1", "jobspec.state"))
    return tmp_path / "jobspec.state.json"


def test_state_list_json_holds_every_entry(state_file: Path) -> None:
    text = run("state", "list")
    result = run("state", "list", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert [entry["address"] for entry in document["entries"]] == [
        line.split("\t")[0] for line in text.stdout.splitlines()
    ]
    assert {"serial", "lineage", "server"} <= set(document)
    assert {"clone_id", "source_id", "original", "applied"} <= set(document["entries"][0])


def test_state_pull_dash_prints_the_state_and_push_dash_reads_it(state_file: Path) -> None:
    pulled = run("state", "pull", "-")
    assert pulled.exit_code == 0, pulled.stderr
    document = json.loads(pulled.stdout)
    listed = json.loads(run("state", "list", "--format", "json").stdout)
    assert document["serial"] == listed["serial"]
    assert sorted(document["entries"]) == [entry["address"] for entry in listed["entries"]]
    assert not Path("-").exists()

    pushed = run("state", "push", "-", "--state", "copy.json", stdin=pulled.stdout)
    assert pushed.exit_code == 0, pushed.stderr
    assert "from stdin to" in pushed.stdout
    again = json.loads(run("state", "list", "--format", "json", "--state", "copy.json").stdout)
    assert again["entries"] == listed["entries"]
    assert again["lineage"] == listed["lineage"]


def test_state_pull_dash_of_no_state_is_refused_as_a_pull_to_a_file_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for target in ("-", "copy.json"):
        refused = run("state", "pull", target)
        assert refused.exit_code == 1
        assert "nothing to pull" in refused.stderr
        assert refused.stdout == ""


def test_state_push_dash_keeps_the_lineage_check(state_file: Path) -> None:
    other = json.loads(run("state", "pull", "-").stdout)
    other["lineage"] = "00000000-0000-4000-8000-000000000000"
    refused = run("state", "push", "-", stdin=json.dumps(other))
    assert refused.exit_code == 1
    assert "lineage" in refused.stderr


def test_state_push_dash_names_stdin_in_its_errors(state_file: Path) -> None:
    refused = run("state", "push", "-", stdin="not json")
    assert refused.exit_code == 1
    assert "stdin" in refused.stderr
    assert "Traceback" not in refused.stderr


# --- plan and show: --full-plan-url -------------------------------------------------------------


def many_deletes() -> Plan:
    """More deletes, with longer names, than one 60,000-character comment holds."""
    jobs = [live_job(SOURCE)]
    prior = {}
    for number in range(300):
        job_id = f"{number:032x}"
        jobs.append(live_job(job_id, name=f"Old clone {number} " + "x" * 200))
        prior[f"gone-{number:03d}"] = entry(original="delete")["finance"].model_copy(
            update={"clone_id": job_id}
        )
    return plan_of({}, prior, jobs, prune=True)


@pytest.fixture
def big_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "plan.json"
    path.write_text(many_deletes().to_json())
    return path


def test_show_links_the_full_plan_from_a_cut_comment(big_plan: Path) -> None:
    url = "https://ci.example/runs/7/artifacts/42"
    result = run("show", str(big_plan), "--format", "markdown", "--full-plan-url", url)
    assert result.exit_code == 0, result.stderr
    assert f"[here](<{url}>)" in result.stdout
    assert len(result.stdout) <= 60_000
    plain = run("show", str(big_plan), "--format", "markdown")
    assert "`jobspec-plan` artifact" in plain.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--full-plan-url", "https://ci.example/x"], "needs --format markdown"),
        (["--format", "markdown", "--full-plan-url", "javascript:alert(1)"], "http(s) URL"),
    ],
)
@pytest.mark.parametrize("command", ["show", "plan"])
def test_the_full_plan_url_is_for_markdown_and_http(
    big_plan: Path, command: str, args: list[str], words: str
) -> None:
    given = [str(big_plan)] if command == "show" else []
    result = run(command, *given, *args, env={"JOBSPEC_SERVER": "", "SKYSYNC_SERVER": ""})
    assert result.exit_code == 1
    assert words in result.stderr


# --- help ---------------------------------------------------------------------------------------


def every_command() -> list[list[str]]:
    """Each command's path: `plan`, `state list`, …"""
    import click

    found = []
    for name, command in sorted(cli.commands.items()):
        if isinstance(command, click.Group):
            found.append([name])
            found += [[name, sub] for sub in sorted(command.commands)]
        else:
            found.append([name])
    return found


@pytest.mark.parametrize("path", every_command(), ids=" ".join)
def test_every_command_s_help_has_an_example(path: list[str]) -> None:
    text = run(*path, "--help", env={"COLUMNS": "100"}).stdout
    assert "\n  Example:\n    jobspec " + " ".join(path) in text


@pytest.mark.parametrize("path", every_command(), ids=" ".join)
def test_placeholders_name_their_kind(path: list[str]) -> None:
    text = run(*path, "--help", env={"COLUMNS": "100"}).stdout
    for option, placeholder in [("--specs", "DIR"), ("--state", "FILE|URL"), ("--out", "FILE")]:
        if f"  {option} " in text:
            assert f"  {option} {placeholder} " in text
    assert "  --query TEXT " in text or " TEXT " not in text  # a search text is TEXT
    assert " INTEGER" not in text and " FLOAT" not in text


@pytest.mark.parametrize("command", ["plan", "apply", "drift", "import", "generate"])
def test_server_commands_name_the_credential_variables(command: str) -> None:
    text = " ".join(run(command, "--help").stdout.split())
    for name in ("JOBSPEC_USERNAME", "JOBSPEC_PASSWORD", "JOBSPEC_CLIENT_ID", "JOBSPEC_TOKEN"):
        assert name in text
    assert "JOBSPEC_CLIENT_SECRET" in text and "JOBSPEC_SERVER" in text
