"""`jobspec validate`: exit codes, text and GitHub formats, and no API or heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobspec.cli import cli
from jobspec.errors import Problem
from jobspec.views import github_annotation

DATA = Path(__file__).parent.parent / "data"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def test_clean_specs_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    code, out, err = run("--specs", "specs-valid")
    assert (code, out, err) == (0, "ok: 3 jobs in 2 files\n", "")


def test_default_directory_is_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "one.yaml").write_text(
        "version: 1\njobs:\n  a: {source: c4d8c04a69224ef0bfaa2f8e920b8792}\n"
    )
    assert run() == (0, "ok: 1 job in 1 file\n", "")


def test_problems_exit_1_with_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    code, out, err = run("--specs", "specs-broken")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 7
    assert lines[1] == (
        "specs-broken/a.yaml:8:9: jobs.finance-archive.overrides.transfer: unknown key "
        "`lock_propogation` (did you mean `lock_propagation`?)"
    )
    assert all(line.startswith("specs-broken/") for line in lines)
    assert err == "7 problems in 3 files\n"


def test_missing_directory_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("--specs", "nowhere")
    assert (code, out, err) == (
        1,
        "nowhere:1:1: spec directory nowhere/ does not exist\n",
        "1 problem in 1 file\n",
    )


def test_github_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    code, out, err = run("--specs", "specs-broken", "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("::error file=specs-broken/a.yaml,line=7,col=24::jobs.")
    assert lines[1] == (
        "::error file=specs-broken/a.yaml,line=8,col=9::jobs.finance-archive.overrides.transfer: "
        "unknown key `lock_propogation` (did you mean `lock_propagation`?)"
    )
    assert all(line.startswith("::error file=") for line in lines)
    assert err == "7 problems in 3 files\n"


def test_github_annotation_escapes_per_workflow_command_rules() -> None:
    problem = Problem("dir,a:b/100%.yaml", 3, 4, "50% off\r\nnext: line", "x, y")
    assert github_annotation(problem) == (
        "::error file=dir%2Ca%3Ab/100%25.yaml,line=3,col=4::50%25 off%0D%0Anext: line (x, y)"
    )


def test_no_traceback_on_hostile_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "binary.yaml").write_bytes(bytes(range(256)))
    (specs / "tabs.yaml").write_text("version: 1\njobs:\n\ta: 1\n")
    (specs / "bomb.yml").write_text("a: &a [1, *a]\n")
    code, out, err = run()
    assert code == 1
    assert "Traceback" not in out + err
    assert [line.split(":", 1)[0] for line in out.splitlines()] == [
        "specs/binary.yaml",
        "specs/bomb.yml",
        "specs/tabs.yaml",
    ]


def test_bad_format_is_a_usage_error() -> None:
    code, _, err = run("--format", "yaml")
    assert code == 1  # 2 means "changes" or "drift" to pipelines
    assert "Invalid value for '--format'" in err


def test_cli_import_stays_light_and_validate_never_loads_the_client() -> None:
    script = (
        "import sys\n"
        "import jobspec.cli\n"
        "heavy = {'pydantic', 'ruamel.yaml', 'httpx'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "from click.testing import CliRunner\n"
        f"args = ['validate', '--specs', {str(DATA / 'specs-valid')!r}]\n"
        "result = CliRunner().invoke(jobspec.cli.cli, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "network = {'httpx', 'jobspec.client', 'jobspec.emulator'} & set(sys.modules)\n"
        "assert not network, network\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


SECRET_LINE = "db_password: Linked-Secret-7c1e [unclosed"


@pytest.mark.parametrize("command", [["validate"], ["fmt", "--check"]])
def test_a_link_leaving_the_spec_folder_is_refused_quoting_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secrets.yaml").write_text(f"version: 1\n{SECRET_LINE}\n", encoding="utf-8")
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "good.yaml").write_text(
        "version: 1\njobs:\n  a: {source: c4d8c04a69224ef0bfaa2f8e920b8792}\n", encoding="utf-8"
    )
    (specs / "also-good.yaml").symlink_to(specs / "good.yaml")  # inside the folder: fine…
    (specs / "linked.yaml").symlink_to(outside / "secrets.yaml")
    result = CliRunner().invoke(cli, command)
    text = result.stdout + result.stderr
    assert result.exit_code == 1, text
    assert "specs/linked.yaml:1:1: a link to a file outside the spec folder" in text
    assert "Linked-Secret" not in text and "db_password" not in text and "private" not in text
    assert "also-good.yaml" in text  # …but a second copy of address `a`: duplicate address
