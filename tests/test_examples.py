"""The example pipelines fail closed: parsed, checked property by property, and their state
scripts run for real against local git remotes (with a stand-in `jobspec` on PATH)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

EXAMPLES = Path(__file__).parent.parent / "examples"
GITHUB = EXAMPLES / "github" / "workflows" / "jobspec.yml"
GITLAB = EXAMPLES / "gitlab" / ".gitlab-ci.yml"
SECRET_NAMES = ("DRYVIQ_SERVER", "DRYVIQ_CLIENT_ID", "DRYVIQ_CLIENT_SECRET")
# The current major version of each action the workflow uses (bump with the actions).
CURRENT_ACTIONS = {
    "actions/checkout": 6,
    "actions/setup-python": 6,
    "actions/github-script": 8,
    "actions/upload-artifact": 5,
    "actions/download-artifact": 6,
}


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def github() -> Any:
    return load(GITHUB)


@pytest.fixture(scope="module")
def gitlab() -> Any:
    return load(GITLAB)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def step(job: dict[str, Any], name_starts: str) -> dict[str, Any]:
    (found,) = [s for s in steps(job) if str(s.get("name", "")).startswith(name_starts)]
    return found


def gitlab_script(job: dict[str, Any]) -> str:
    """A GitLab job's script as one shell text (anchored lists flattened, as GitLab does)."""

    def flat(items: Any) -> list[str]:
        if isinstance(items, list):
            return [line for item in items for line in flat(item)]
        return [str(items)]

    return "\n".join(flat(job.get("script", [])))


# --- both ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GITHUB, GITLAB])
def test_install_the_projects_own_distribution(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    installs = re.findall(r"pip install[^\n]*", text)
    assert installs
    assert all('"dryviq-jobspec==${JOBSPEC_VERSION}"' in line for line in installs), installs


@pytest.mark.parametrize("path", [GITHUB, GITLAB, EXAMPLES.parent / "README.md"])
def test_examples_and_readme_pin_this_release_series(path: Path) -> None:
    """The pins follow the version: `0.3.*` while jobspec is 0.3.x."""
    import jobspec

    series = ".".join(jobspec.__version__.split(".")[:2]) + ".*"
    pins = re.findall(
        r"(?:JOBSPEC_VERSION: |dryviq-jobspec(?:\[\w+\])?==)\"?([0-9][^\"' ]*)",
        path.read_text(encoding="utf-8"),
    )
    assert pins
    assert set(pins) == {series}, pins


@pytest.mark.parametrize("path", [GITHUB, GITLAB])
def test_no_force_push_and_no_fetch_that_treats_failure_as_empty(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "git push" in text
    assert not re.search(r"git push[^\n]*(--force|\s-f\b)", text)
    assert "if git fetch" not in text
    assert "git ls-remote --exit-code" in text
    assert "git worktree add" in text  # the state never lands in the project's work tree


# --- GitHub -------------------------------------------------------------------------------------


def test_github_actions_are_current(github: Any) -> None:
    used = {s["uses"] for job in github["jobs"].values() for s in steps(job) if "uses" in s}
    for ref in used:
        name, _, version = ref.partition("@")
        assert name in CURRENT_ACTIONS, ref
        assert int(version.lstrip("v").split(".")[0]) >= CURRENT_ACTIONS[name], ref


def test_github_secrets_only_in_the_steps_that_call_dryviq(github: Any) -> None:
    assert "secrets." not in str(github.get("env", {}))
    for name, job in github["jobs"].items():
        assert "secrets." not in str(job.get("env", {})), name
        for item in steps(job):
            carries = "secrets." in str(item)
            calls_dryviq = bool(
                re.search(r"jobspec (plan|apply|drift)\b", str(item.get("run", "")))
            )
            assert carries == calls_dryviq, (name, item.get("name"))


def test_github_reads_the_state_the_same_careful_way_everywhere(github: Any) -> None:
    scripts = {
        name: step(job, "Read the state")["run"]
        for name, job in github["jobs"].items()
        if any(str(s.get("name", "")).startswith("Read the state") for s in steps(job))
    }
    assert set(scripts) == {"pr-plan", "plan", "apply", "drift"}
    assert len(set(scripts.values())) == 1


def test_github_pr_comment_is_written_on_failure_with_commit_and_run(github: Any) -> None:
    comment = step(github["jobs"]["pr-plan"], "Create or update the plan comment")
    assert comment["if"] == "always()"
    script = comment["with"]["script"]
    assert "updateComment" in script and "createComment" in script
    assert "pull_request.head.sha" in script and "context.runId" in script
    assert "FAILED" in script


def test_github_applies_the_reviewed_plan_file_behind_an_environment(github: Any) -> None:
    plan, apply = github["jobs"]["plan"], github["jobs"]["apply"]
    assert "--out plan.json" in step(plan, "Plan, saved")["run"]
    uploads = [s for s in steps(plan) if str(s.get("uses", "")).startswith("actions/upload-art")]
    assert uploads[0]["with"]["path"].split() == ["plan.json", "plan.txt", "plan.md"]
    assert apply["needs"] == "plan"
    assert apply["environment"] == "dryviq"
    downloads = [s for s in steps(apply) if str(s.get("uses", "")).startswith("actions/download")]
    assert downloads[0]["with"]["name"] == uploads[0]["with"]["name"]
    run = step(apply, "Apply the reviewed plan")["run"]
    assert "jobspec apply plan.json" in run and "--auto-approve" not in run
    # the state is saved in the same step, after the apply, whatever its exit code
    assert run.index("jobspec apply") < run.index("git push") < run.index('exit "$status"')


def test_github_checkouts_keep_no_credential_and_pip_is_cached(github: Any) -> None:
    for name, job in github["jobs"].items():
        for item in steps(job):
            if str(item.get("uses", "")).startswith("actions/checkout"):
                assert item["with"]["persist-credentials"] is False, name
            if str(item.get("uses", "")).startswith("actions/setup-python"):
                assert item["with"]["cache"] == "pip", name


def test_github_only_apply_gets_the_credential_that_can_delete(github: Any) -> None:
    environments = {name: job.get("environment") for name, job in github["jobs"].items()}
    assert environments == {
        "pr-plan": "dryviq-read",
        "plan": "dryviq-read",
        "apply": "dryviq",
        "drift": "dryviq-read",
    }
    text = GITHUB.read_text(encoding="utf-8")
    assert "Deployment branches" in text and "`main` only" in text


def test_github_comment_is_ours_by_marker_and_bot_author(github: Any) -> None:
    script = step(github["jobs"]["pr-plan"], "Create or update the plan comment")["with"]["script"]
    assert "c.user.login === 'github-actions[bot]'" in script
    assert "c.body.startsWith(marker)" in script
    assert "'`'.repeat(" in script  # server error text in a fence it cannot close


def test_github_uploads_the_full_plan_and_links_it(github: Any) -> None:
    pr = github["jobs"]["pr-plan"]
    assert "--out plan.json" in step(pr, "Plan")["run"]
    assert "plan.txt" in step(pr, "Plan")["run"]
    upload = step(pr, "Upload the full plan")
    assert set(upload["with"]["path"].split()) == {"plan.txt", "plan.json", "plan.md"}
    comment = step(pr, "Create or update the plan comment")
    assert comment["env"]["PLAN_URL"] == "${{ steps.artifact.outputs.artifact-url }}"
    assert "process.env.PLAN_URL" in comment["with"]["script"]
    linked = step(pr, "Point the comment at the uploaded plan")
    assert '--full-plan-url "$PLAN_URL" > plan.md' in linked["run"]
    assert linked["env"]["PLAN_URL"] == "${{ steps.artifact.outputs.artifact-url }}"
    names = [str(s.get("name", "")) for s in steps(pr)]
    assert names.index(upload["name"]) < names.index(linked["name"]) < names.index(comment["name"])


def test_github_keeps_a_state_it_could_not_push(github: Any) -> None:
    apply = github["jobs"]["apply"]
    names = [str(s.get("name", "")) for s in steps(apply)]
    keep = step(apply, "Keep the state as an artifact")
    assert names.index(keep["name"]) == names.index(step(apply, "Apply the reviewed")["name"]) + 1
    assert keep["if"] == "always() && steps.apply.outputs.saved != 'true'"
    assert "state/jobspec.state.json*" in keep["with"]["path"]
    assert "!state/jobspec.state.json.lock" in keep["with"]["path"]
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert "jobspec-state-unpushed" in readme


def test_zizmor_finds_nothing_but_tag_pinned_github_actions() -> None:
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    config = EXAMPLES / "github" / "zizmor.yaml"
    assert '"actions/*": ref-pin' in config.read_text(encoding="utf-8")
    done = subprocess.run(
        [zizmor, "--offline", "--config", str(config), str(GITHUB)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_github_main_runs_are_serialised_and_never_cancelled(github: Any) -> None:
    group = github["concurrency"]["group"]
    assert "'jobspec-main'" in group
    assert (
        github["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    )
    assert "contents: write" not in str(github["permissions"])


def test_github_has_a_scheduled_drift_job(github: Any) -> None:
    assert github["on"]["schedule"]
    drift = github["jobs"]["drift"]
    assert drift["if"] == "github.event_name == 'schedule'"
    assert any("jobspec drift" in str(s.get("run", "")) for s in steps(drift))


# --- GitLab -------------------------------------------------------------------------------------


def test_gitlab_saves_the_state_in_the_script_not_after_script(gitlab: Any) -> None:
    apply = gitlab["apply"]
    assert "after_script" not in apply
    script = gitlab_script(apply)
    assert script.index("jobspec apply plan.json") < script.index("git push")
    assert script.index("git push") < script.index('exit "$status"')
    assert "--auto-approve" not in script


def test_gitlab_applies_in_order_behind_a_protected_environment(gitlab: Any) -> None:
    apply, plan = gitlab["apply"], gitlab["plan"]
    assert apply["resource_group"] == plan["resource_group"] == "jobspec"
    assert "oldest_first" in gitlab_script(apply)  # checked before applying
    assert apply["needs"] == ["plan"]
    assert apply["environment"]["name"] == "dryviq"
    assert apply["rules"][0]["when"] == "manual"
    assert "plan.json" in plan["artifacts"]["paths"]


def test_gitlab_validate_reports_problems_as_code_quality(gitlab: Any) -> None:
    validate = gitlab["validate"]
    script = gitlab_script(validate)
    assert "jobspec validate --format gitlab > gl-code-quality.json" in script
    assert script.rstrip().endswith("jobspec validate")  # the job fails on a problem
    assert validate["artifacts"]["reports"]["codequality"] == "gl-code-quality.json"
    assert validate["artifacts"]["when"] == "always"


def test_gitlab_mr_note_is_written_on_failure_with_commit_and_job(gitlab: Any) -> None:
    script = gitlab_script(gitlab["mr-plan"])
    assert script.index("code=$?") < script.index("python3 -") < script.index('test "$code"')
    assert "CI_COMMIT_SHA" in script and "CI_JOB_URL" in script and "FAILED" in script


def test_gitlab_note_is_ours_by_marker_and_bot_author_and_links_the_full_plan(gitlab: Any) -> None:
    mr = gitlab["mr-plan"]
    script = gitlab_script(mr)
    assert 'n["author"]["id"] == bot' in script and 'n["body"].startswith(marker)' in script
    assert "/artifacts/browse" in script
    assert "--out plan.json" in script and "jobspec show plan.json > plan.txt" in script
    assert '--full-plan-url "${CI_JOB_URL}/artifacts/browse"' in script
    assert {"plan.txt", "plan.json", "plan.md"} <= set(mr["artifacts"]["paths"])
    assert {"plan.txt", "plan.json", "plan.md"} <= set(gitlab["plan"]["artifacts"]["paths"])


def test_gitlab_keeps_the_state_of_a_failed_apply_and_caches_pip(gitlab: Any) -> None:
    kept = gitlab["apply"]["artifacts"]
    assert kept["when"] == "on_failure"
    assert kept["paths"] == ["state/jobspec.state.json*"]
    assert kept["exclude"] == ["state/jobspec.state.json.lock"]
    assert gitlab[".jobspec"]["cache"]["paths"] == [".cache/pip"]
    assert gitlab["variables"]["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip"


def test_gitlab_credentials_reach_only_jobs_in_a_dryviq_environment(gitlab: Any) -> None:
    for name, job in gitlab.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        calls = bool(re.search(r"jobspec (plan|apply|drift)\b", gitlab_script(job)))
        scoped = str(job.get("environment", {}).get("name", "")).startswith("dryviq")
        assert calls == scoped, name
    assert "JOBSPEC_CLIENT" not in str(gitlab["variables"])


def test_gitlab_has_a_scheduled_drift_job(gitlab: Any) -> None:
    drift = gitlab["drift"]
    assert drift["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert "jobspec drift" in gitlab_script(drift)


# --- the state scripts, run -----------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A project clone whose origin is a bare repository on disk."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    origin = tmp_path / "origin.git"
    git("init", "--quiet", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    seed = tmp_path / "seed"
    git("init", "--quiet", "-b", "main", str(seed), cwd=tmp_path)
    (seed / "specs").mkdir()
    (seed / "specs" / "a.yaml").write_text("version: 1\njobs: {}\n")
    git("add", ".", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "seed", cwd=seed)
    git("push", "--quiet", str(origin), "main", cwd=seed)
    work = tmp_path / "work"
    git("clone", "--quiet", "--depth", "1", origin.as_uri(), str(work), cwd=tmp_path)
    return work


def run_script(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    fake = cwd.parent / "bin"
    fake.mkdir(exist_ok=True)
    # Stands in for jobspec apply: writes a state file and exits as $FAKE_EXIT says.
    (fake / "jobspec").write_text(
        '#!/bin/sh\necho "{\\"serial\\": $FAKE_SERIAL}" > state/jobspec.state.json\n'
        "echo lock > state/jobspec.state.json.lock\nexit ${FAKE_EXIT:-0}\n"
    )
    (fake / "jobspec").chmod(0o755)
    environment = {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "STATE_BRANCH": "jobspec-state",
        "GITHUB_SHA": "abc",
        "GIT_AUTHOR_NAME": "t",
        "GIT_COMMITTER_NAME": "t",
        "GITHUB_OUTPUT": str(cwd.parent / "github-output"),
        **env,
    }
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, env=environment, capture_output=True, text=True
    )


def read_and_apply(github: Any) -> tuple[str, str]:
    apply = github["jobs"]["apply"]
    return step(apply, "Read the state")["run"], step(apply, "Apply the reviewed plan")["run"]


def test_first_apply_creates_the_state_branch_then_the_next_reads_it(
    github: Any, checkout: Path
) -> None:
    read, apply = read_and_apply(github)
    first = run_script(read, checkout)
    assert "no jobspec-state branch yet" in first.stdout, first.stderr
    saved = run_script(apply, checkout, FAKE_SERIAL="1", FAKE_EXIT="1")
    assert saved.returncode == 1  # the apply's own failure, after the state was saved
    origin = checkout.parent / "origin.git"
    assert '"serial": 1' in git("show", "jobspec-state:jobspec.state.json", cwd=origin)
    files = git("ls-tree", "--name-only", "jobspec-state", cwd=origin).split()
    assert files == ["jobspec.state.json"]  # the lock stays on the runner
    assert "jobspec.state.json" not in git("ls-files", cwd=checkout)  # main tree untouched

    again = checkout.parent / "again"
    git("clone", "--quiet", "--depth", "1", origin.as_uri(), str(again), cwd=checkout.parent)
    second = run_script(read, again)
    assert second.returncode == 0, second.stderr
    assert '"serial": 1' in (again / "state" / "jobspec.state.json").read_text()


def test_an_unreachable_remote_stops_instead_of_starting_empty(github: Any, checkout: Path) -> None:
    read, _ = read_and_apply(github)
    git("remote", "set-url", "origin", str(checkout.parent / "missing.git"), cwd=checkout)
    done = run_script(read, checkout)
    assert done.returncode != 0
    assert "cannot read the state branch" in done.stdout + done.stderr
    assert not (checkout / "state").exists()


def test_a_state_branch_moved_meanwhile_is_not_overwritten(github: Any, checkout: Path) -> None:
    read, apply = read_and_apply(github)
    assert run_script(read, checkout).returncode == 0
    assert run_script(apply, checkout, FAKE_SERIAL="1").returncode == 0
    # A second runner reads serial 1 …
    other = checkout.parent / "other"
    origin = checkout.parent / "origin.git"
    git("clone", "--quiet", "--depth", "1", origin.as_uri(), str(other), cwd=checkout.parent)
    assert run_script(read, other).returncode == 0
    # … while the first one applies again and pushes serial 2.
    shutil.rmtree(checkout / "state")
    git("worktree", "prune", cwd=checkout)
    assert run_script(read, checkout).returncode == 0
    assert run_script(apply, checkout, FAKE_SERIAL="2").returncode == 0
    (checkout.parent / "github-output").write_text("")
    late = run_script(apply, other, FAKE_SERIAL="9")
    assert late.returncode != 0  # not a fast-forward: refused, nothing overwritten
    # … and the step says it did not save, so the next step uploads the state instead
    assert "saved=true" not in (checkout.parent / "github-output").read_text()
    assert '"serial": 2' in git("show", "jobspec-state:jobspec.state.json", cwd=origin)
