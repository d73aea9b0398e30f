"""CLI conventions a pipeline relies on: exit codes, one settings path, global options after
the command, colour switches, help that is not cut, address completion, missing extras."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.shell_completion import BashComplete
from click.testing import CliRunner, Result

from jobspec.cli import cli
from tests.planner.helpers import deleting_plan

SOURCE = "c4d8c04a69224ef0bfaa2f8e920b8792"


def run(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def write_spec(directory: Path, address: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{address}.yaml").write_text(
        f"version: 1\njobs:\n  {address}: {{source: {SOURCE}}}\n"
    )


# --- exit codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--bogus"],
        ["plan", "--detailed-exitcode", "--formt", "markdown"],
        ["drift", "--formt", "json"],
        ["drift", "--format", "yaml"],
        ["apply", "--wait-for-idle=soon"],
        ["no-such-command"],
        ["state", "show"],
    ],
)
def test_usage_errors_exit_1_never_2(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.stderr


def test_the_installed_command_exits_1_on_a_usage_error() -> None:
    """The console script itself, as a pipeline runs it."""
    done = subprocess.run(
        [sys.executable, "-c", "from jobspec.cli import main; main()", "plan", "--bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Error: No such option" in done.stderr and "--bogus" in done.stderr


def test_help_and_version_exit_0() -> None:
    assert run("--help").exit_code == 0
    assert run("plan", "--help").exit_code == 0
    assert run("--version").exit_code == 0


# --- one settings path --------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose jobspec.toml points at `jobs/`, with a decoy `specs/` beside it."""
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "jobs", "real")
    write_spec(tmp_path / "specs", "decoy-one")
    write_spec(tmp_path / "specs", "decoy-two")
    (tmp_path / "jobspec.toml").write_text('specs = "jobs"\n')
    return tmp_path


def test_validate_reads_specs_from_jobspec_toml(project: Path) -> None:
    assert run("validate").stdout == "ok: 1 job in 1 file\n"


def test_validate_and_fmt_take_config_before_or_after_the_command(project: Path) -> None:
    other = project / "conf" / "other.toml"
    other.parent.mkdir()
    other.write_text('specs = "../specs"\n')  # relative to the config file
    assert run("--config", str(other), "validate").stdout == "ok: 2 jobs in 2 files\n"
    assert run("validate", "--config", str(other)).stdout == "ok: 2 jobs in 2 files\n"
    (project / "specs" / "decoy-one.yaml").write_text(
        f"version: 1\njobs:\n  decoy-one:   {{source: {SOURCE}}}\n"
    )
    checked = run("fmt", "--check", "--config", str(other))
    assert checked.exit_code == 1
    assert "decoy-one.yaml" in checked.stdout
    assert run("fmt", "--check").exit_code == 0  # jobspec.toml's folder is clean


def test_a_flag_beats_the_config_file(project: Path) -> None:
    assert run("validate", "--specs", "specs").stdout == "ok: 2 jobs in 2 files\n"


def test_state_commands_read_the_configured_state(project: Path) -> None:
    (project / "jobspec.toml").write_text('specs = "jobs"\nstate = "elsewhere/state.json"\n')
    missing = run("state", "list")
    assert missing.exit_code == 0
    assert "0 addresses" in missing.stderr
    (project / "elsewhere").mkdir()
    assert run("state", "list").exit_code == 0


@pytest.mark.parametrize("flags", [["-v"], ["-vv"], ["--no-color"], ["--log-level", "info"]])
def test_global_options_work_after_the_command(project: Path, flags: list[str]) -> None:
    before = run(*flags, "validate")
    after = run("validate", *flags)
    assert before.exit_code == after.exit_code == 0
    assert before.stdout == after.stdout == "ok: 1 job in 1 file\n"


# --- colour -------------------------------------------------------------------------------------


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(deleting_plan().to_json())
    return path


def test_show_words_an_edited_plan_file_for_show(
    plan_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """show applies nothing, so it does not say the file "cannot be applied"; apply still does."""
    monkeypatch.chdir(plan_file.parent)
    text = plan_file.read_text()
    plan_file.write_text(text.replace('"gone-spec"', '"edited-by-hand"', 1))
    assert plan_file.read_text() != text
    shown = run("show", str(plan_file))
    assert shown.exit_code == 1
    assert shown.stdout == ""
    assert shown.stderr.startswith(
        f"error: not showing {plan_file}: apply would refuse it, as its checksum does not "
        "match its content: it was edited\n"
    ), shown.stderr
    assert "cannot be applied" not in shown.stderr
    applied = run(
        "apply", str(plan_file), env={"JOBSPEC_SERVER": "http://127.0.0.1:9/", "JOBSPEC_TOKEN": "t"}
    )
    assert applied.exit_code == 1
    assert f"error: {plan_file} cannot be applied: its checksum does not match" in applied.stderr


def test_show_still_says_when_a_file_is_not_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{}")
    shown = run("show", str(path))
    assert shown.exit_code == 1
    assert f"error: {path} is not a jobspec plan file" in shown.stderr


@pytest.mark.parametrize(
    ("env", "args", "coloured"),
    [
        ({}, [], False),  # not a terminal
        ({"FORCE_COLOR": "1"}, [], True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, [], False),
        ({"FORCE_COLOR": "1", "TERM": "dumb"}, [], False),
        ({"FORCE_COLOR": "1"}, ["--no-color"], False),
    ],
)
def test_colour_switches(
    plan_file: Path, env: dict[str, str], args: list[str], coloured: bool
) -> None:
    """rich's Console decides (the one mechanism); --no-color is on top of it."""
    base: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None, "TERM": "xterm"}
    result = run("show", str(plan_file), *args, env={**base, **env})
    assert result.exit_code == 0
    assert ("\x1b[" in result.stdout) is coloured
    if coloured:
        assert result.stdout.startswith("\x1b[1;31mWARNING: this plan DELETES")
        forced = {**base, **env}
        for output_format in ("json", "markdown"):
            other = run("show", str(plan_file), "--format", output_format, env=forced)
            assert "\x1b[" not in other.stdout


# --- help ---------------------------------------------------------------------------------------


def test_top_level_help_cuts_no_command_description() -> None:
    result = run("--help", env={"COLUMNS": "80"})
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands
    assert "Show what apply would do: specs vs state vs the live jobs." in " ".join(
        result.stdout.split()
    )
    assert "-v, --verbose" in run("plan", "--help").stdout  # globals listed per command too


@pytest.mark.parametrize("command", ["generate", "import"])
def test_generate_and_import_take_no_target(command: str) -> None:
    """They select jobs by id: `--target` (which limits plans to addresses) is not theirs."""
    assert "--target" not in run(command, "--help").stdout
    assert "--server" in run(command, "--help").stdout  # the other connection flags stay
    refused = run(command, "--target", "finance")
    assert refused.exit_code == 1
    # click words it "No such option '--target'" or "No such option: --target" by version
    assert "No such option" in refused.stderr and "--target" in refused.stderr


def test_import_explains_lock_timeout_as_apply_does() -> None:
    def described(command: str) -> str:
        text = " ".join(run(command, "--help", env={"COLUMNS": "200"}).stdout.split())
        return text.split("--lock-timeout SECONDS ")[1].split(" [default")[0]

    assert described("import") == described("apply")
    assert described("import") == (
        "Seconds (or a duration: 2m …) to wait for the state lock (0: fail at once, naming the "
        "holder)."
    )


@pytest.mark.parametrize("command", ["plan", "apply", "drift", "generate", "import"])
def test_specs_help_names_the_config_file_default(command: str) -> None:
    """They read `specs` from jobspec.toml, as validate and fmt do; the help says so."""
    text = " ".join(run(command, "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "--specs DIR Spec directory [default: `specs` in jobspec.toml, else specs]." in text


def test_state_help_cuts_no_command_description() -> None:
    result = run("state", "--help", env={"COLUMNS": "80"})
    assert result.exit_code == 0
    commands = " ".join(result.stdout.split("Commands:")[1].split())
    assert "..." not in commands
    # click would end push's sentence at "(e.g." (a period before a capital)
    assert (
        "Copy the whole state in SOURCE (a state file; `-`: stdin) into the state (e.g. "
        "PostgreSQL)." in commands
    )
    for name in ("list", "mv", "pull", "restore", "rm", "set-server", "show"):
        assert f" {name} " in f" {commands} "
    described = commands.split(" push ")[1].split(" restore ")[0]
    assert described.endswith(".")


# --- completion ---------------------------------------------------------------------------------


def complete(args: list[str], incomplete: str) -> list[str]:
    completer = BashComplete(cli, {}, "jobspec", "_JOBSPEC_COMPLETE")
    return [item.value for item in completer.get_completions(args, incomplete)]


def test_addresses_complete_from_specs_and_state(project: Path) -> None:
    from jobspec.model import StateEntry
    from jobspec.state import FileStateStore

    write_spec(project / "jobs", "finance")
    store = FileStateStore(project / "jobspec.state.json")
    with store.lock(timeout=0, operation="test") as session:
        session.put(
            "fin-old",
            StateEntry.model_validate(
                {
                    "source_id": SOURCE,
                    "clone_id": "b" * 32,
                    "original": "manual",
                    "applied": {},
                    "applied_digest": "x",
                }
            ),
        )
    assert complete(["plan", "--target"], "fi") == ["fin-old", "finance"]
    assert complete(["state", "show"], "") == ["fin-old", "finance", "real"]
    assert complete(["apply", "--config", "jobspec.toml", "--target"], "r") == ["real"]


def test_completion_of_unreadable_places_offers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobspec.state.json").write_text("not json")
    assert complete(["state", "show"], "") == []


# --- optional dependencies ----------------------------------------------------------------------

_WITHOUT = """
import sys
from importlib.abc import MetaPathFinder

class Uninstalled(MetaPathFinder):
    '''Plays a machine where these distributions were never installed.'''
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None

sys.meta_path.insert(0, Uninstalled())
from jobspec.cli import main
sys.argv = ["jobspec", *{args!r}]
main()
"""


def run_without(blocked: set[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = _WITHOUT.format(blocked=blocked, args=args)
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, "JOBSPEC_SERVER": "http://127.0.0.1:9/", "JOBSPEC_TOKEN": "t"},
    )


def test_emulator_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    done = run_without({"starlette", "uvicorn"}, ["emulator", "--port", "0"], tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "error: `jobspec emulator` needs starlette and uvicorn, which are not installed\n"
        "hint: pip install 'dryviq-jobspec[emulator]'\n"
    )


def test_postgres_state_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    done = run_without({"psycopg"}, ["state", "list", "--state", "postgresql://db/x"], tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "error: PostgreSQL state needs psycopg, which is not installed\n"
        "hint: pip install 'dryviq-jobspec[postgres]'\n"
    )


# --- the emulator's start-up errors -------------------------------------------------------------


def test_emulator_on_a_busy_port_is_one_error_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("emulator", "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "hint: another program uses that port" in result.stderr
    assert "jobspec emulator on" not in result.stderr  # no banner before the error
