"""The reliability campaign's moves, shared by the tests and by `bench/reliability.py`.

Each function runs one kind of trial against a live emulator and returns a small record of
what happened; it raises `AssertionError` the moment a promise is broken (a duplicate clone,
a traceback, a run that does not converge). The tests call them with a few seeds; the bench
script calls them many times and writes the figures to `docs/reliability.md`.

- `fault_trial`: one multi-spec apply under one emulator fault profile, re-run until it
  converges; the server must end exactly as in a fault-free run.
- `kill_round`: a 100+ spec apply SIGKILLed at random moments, then re-run to the end.
- `bad_input_trial`: `jobspec validate` and `jobspec plan` on a hostile spec directory.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle, make_job, wait_for

CLONE_PREFIX = "Clone of "
POLICIES = ("manual", "delete", "keep")
LOCK_PROPAGATION = ("ignore", "mirror_lock", "mirror_owner")
NO_FAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "spike_rate": 0,
    "spike_ms": 0,
    "fault_503": 0,
    "fault_429": 0,
    "fault_drop": 0,
    "retry_after": 1,
    "targets": [],
}


@dataclass(frozen=True)
class Profile:
    """Emulator fault settings, plus what the client side needs to meet them."""

    name: str
    faults: dict[str, Any]
    config: str = ""  # jobspec.toml text for the workspace
    settle: float | None = None  # JOBSPEC_CLONE_SETTLE, if not the workspace's 1 s
    expire_tokens: bool = False  # expire every token while the apply runs


PROFILES = {
    profile.name: profile
    for profile in (
        Profile("503", {"fault_503": 0.05}),
        Profile("429", {"fault_429": 0.05, "retry_after": 0}),
        Profile("drop", {"fault_drop": 0.1}),
        # Spikes longer than the client's timeout: reads time out and are retried; a clone or
        # patch that times out has an unknown outcome, so apply looks for the clone before
        # anything is sent again. The settle window exceeds the longest a request is held.
        Profile(
            "spikes",
            {"spike_rate": 0.1, "spike_ms": 800},
            config="timeout = 0.3\n",
            settle=2.0,
        ),
        # The server revokes every token a few times while the apply runs (as on a restart):
        # the client logs in again and retries the refused call.
        Profile("token-expiry", {"latency_ms": 15}, expire_tokens=True),
    )
}


# --- workloads ---------------------------------------------------------------------------------


def workload(ws: Workspace, count: int, *, seed: int, prefix: str = "job") -> None:
    """`count` specs mixing the three `original` policies and a few managed fields.

    Sources are seeded in one call; every spec changes something, so each address needs a
    clone, a verify and (for manual and delete) a retire.
    """
    rng = random.Random(seed)
    addresses = [f"{prefix}-{index:03d}" for index in range(count)]
    # each source writes to its own folder, so no two jobs ever overlap
    bodies = [
        make_job(
            name=f"Source of {address}",
            transfer={
                "source": {"target": {"path": f"/Data/{address}"}},
                "destination": {"target": {"path": f"/Archive/{address}"}},
            },
        )
        for address in addresses
    ]
    ids = ws.emulator.seed(bodies)
    for index, (address, source_id) in enumerate(zip(addresses, ids, strict=True)):
        ws.sources[address] = source_id
        overrides: dict[str, Any] = {
            "name": f"{CLONE_PREFIX}{address}",
            "transfer": {"lock_propagation": rng.choice(LOCK_PROPAGATION)},
        }
        policy = POLICIES[index % len(POLICIES)]
        if policy == "keep" or rng.random() < 0.5:  # a kept original runs on: clone manual
            overrides["schedule"] = {"mode": "manual"}
        if rng.random() < 0.3:
            overrides["priority"] = rng.randrange(1, 10)
        ws.specs[address] = {
            "source": source_id,
            "original": policy,
            "overrides": overrides,
        }
    ws.write_specs()


@dataclass
class TrialWorkspace(Workspace):
    """A workspace whose commands see `extra_env` on top of the usual environment."""

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra_env}


def fresh_workspace(root: Path, emulator: EmulatorHandle, name: str) -> TrialWorkspace:
    """An empty emulator and an empty directory for one trial."""
    emulator.reset()
    folder = root / name
    folder.mkdir(parents=True)
    return TrialWorkspace(root=folder, emulator=emulator)


# --- checks ------------------------------------------------------------------------------------

VOLATILE = frozenset({"id", "created_on", "modified_on", "links", "status", "parent"})


def server_view(emulator: EmulatorHandle) -> list[str]:
    """Every job the server ever held, without ids and clocks: comparable across runs."""

    def strip(job: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in job.items() if key not in VOLATILE}

    jobs = emulator.all_jobs(include_deleted=True)
    return sorted(json.dumps(strip(job), sort_keys=True) for job in jobs)


def duplicate_clones(emulator: EmulatorHandle) -> dict[str, int]:
    """Clone names made more than once, deleted ones included (must always be empty)."""
    names = Counter(
        job["name"]
        for job in emulator.all_jobs(include_deleted=True)
        if job["name"].startswith(CLONE_PREFIX)
    )
    return {name: count for name, count in names.items() if count > 1}


def check_clean_failure(exit_code: int, stdout: str, stderr: str) -> list[str]:
    """A run may fail, but only with exit 1 and `error:`/`failed:` lines, never a traceback."""
    assert exit_code in (0, 1), f"exit {exit_code}\n{stdout}\n{stderr}"
    assert "Traceback" not in stdout + stderr, stdout + stderr
    if exit_code == 0:
        return []
    reasons = [
        line for line in stderr.splitlines() if line.startswith(("error:", "failed:", "hint:"))
    ]
    assert any(line.startswith(("error:", "failed:")) for line in reasons), stderr
    return reasons


# --- faults ------------------------------------------------------------------------------------


@dataclass
class FaultTrial:
    profile: str
    seed: int
    specs: int
    runs: int = 0  # apply invocations until one exited 0
    failed_runs: int = 0
    failures: list[str] = field(default_factory=list)
    requests: int = 0  # API requests over all runs (the reference run's count shows the extra)
    token_expiries: int = 0
    duplicates: int = 0
    converged: bool = False


MAX_RUNS = 4


@dataclass(frozen=True)
class Reference:
    specs: int  # the workload: how many specs, made by `workload(seed=...)`
    seed: int
    view: list[str]  # `server_view` after a fault-free apply
    requests: int  # API requests that apply made


def reference_run(root: Path, emulator: EmulatorHandle, *, specs: int, seed: int) -> Reference:
    """The server after a fault-free apply of the workload: what every faulted run must reach."""
    ws = fresh_workspace(root, emulator, f"reference-{specs}-{seed}")
    workload(ws, specs, seed=seed)
    ws.cli("apply", "--auto-approve")
    requests = emulator.stats()["total"]
    ws.assert_converged()
    return Reference(specs=specs, seed=seed, view=server_view(emulator), requests=requests)


def fault_trial(
    root: Path,
    emulator: EmulatorHandle,
    profile: Profile,
    *,
    seed: int,
    reference: Reference,
) -> FaultTrial:
    """Apply the reference's workload under `profile` (faults seeded by `seed`), re-running
    until a run succeeds; the server must then hold exactly what the reference run made."""
    ws = fresh_workspace(root, emulator, f"{profile.name}-{seed}")
    specs = reference.specs
    workload(ws, specs, seed=reference.seed)
    if profile.config:
        (ws.root / "jobspec.toml").write_text(profile.config, encoding="utf-8")
    if profile.settle is not None:
        ws.extra_env["JOBSPEC_CLONE_SETTLE"] = str(profile.settle)
    trial = FaultTrial(profile=profile.name, seed=seed, specs=specs)
    emulator.faults(**{**NO_FAULTS, **profile.faults, "seed": seed})
    while trial.runs < MAX_RUNS:
        trial.runs += 1
        expirer = TokenExpirer(ws) if profile.expire_tokens and trial.runs == 1 else None
        with expirer or nullcontext():
            result = ws.cli("apply", "--auto-approve", expect=None)
        if expirer is not None:
            trial.token_expiries = expirer.expired
        reasons = check_clean_failure(result.exit_code, result.stdout, result.stderr)
        assert not duplicate_clones(emulator), duplicate_clones(emulator)
        if result.exit_code == 0:
            break
        trial.failed_runs += 1
        trial.failures.extend(reasons)
    trial.requests = emulator.stats()["total"]
    emulator.faults(**NO_FAULTS)
    assert trial.failed_runs < MAX_RUNS, f"{profile.name}/{seed}: never succeeded"
    ws.assert_converged()
    same = server_view(emulator) == reference.view
    assert same, f"{profile.name}/{seed}: the server differs from the fault-free run's"
    trial.duplicates = len(duplicate_clones(emulator))
    trial.converged = True
    return trial


class TokenExpirer:
    """While in use, expires every token `TIMES` times, every `EVERY` journal records.

    The gap is wide enough that one call (401, a new token, the retry) never meets two
    revocations: a token revoked again before its first use is a different failure.
    """

    EVERY = 20  # journal records between expiries
    TIMES = 3

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.journal = ws.state_path.with_name(ws.state_path.name + ".journal")
        self.expired = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TokenExpirer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        next_at = self.EVERY
        while not self._stop.wait(0.005):
            if self.expired < self.TIMES and journal_records(self.journal) >= next_at:
                self.ws.emulator.expire_tokens()
                self.expired += 1
                next_at += self.EVERY


def journal_records(journal: Path) -> int:
    try:
        return journal.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# --- kills -------------------------------------------------------------------------------------


@dataclass
class KillRound:
    specs: int
    kills: int = 0  # SIGKILLs that landed on a running apply
    finished_first: int = 0  # runs that ended before their kill moment
    kill_points: list[int] = field(default_factory=list)  # progress lines seen at each kill
    logs: list[str] = field(default_factory=list, repr=False)  # each run's stderr
    stale_locks_reported: int = 0
    duplicates: int = 0
    converged: bool = False


class _Progress:
    """Counts the progress lines a spawned apply writes to stderr, from a reader thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines = 0
        self.text: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self.text.append(line)
            self.lines += 1

    def join(self) -> None:
        self._thread.join(timeout=30)


def _reached(progress: _Progress, lines: int, process: subprocess.Popen[str]) -> Callable[[], bool]:
    return lambda: progress.lines >= lines or process.poll() is not None


def kill_round(
    root: Path,
    emulator: EmulatorHandle,
    *,
    seed: int,
    specs: int,
    kills: int,
    latency_ms: float = 10,
) -> KillRound:
    """Apply `specs` specs, SIGKILLing up to `kills` runs in a row at random moments, then
    finish with an uninterrupted run (a run that ends before its kill moment ends the round).

    A kill moment is a random number of progress lines (one per step) into the run, so kills
    land while planning, between steps and, with the emulator's latency, mid-request. After
    every kill no clone may exist twice; after the final run the workspace has converged.
    """
    rng = random.Random(seed)
    ws = fresh_workspace(root, emulator, f"kill-{seed}")
    workload(ws, specs, seed=seed)
    record = KillRound(specs=specs)
    emulator.faults(**{**NO_FAULTS, "latency_ms": latency_ms})
    # About the progress lines of a whole run (cloned, verified, retired, done per address);
    # each kill moment is drawn from what is left, so later runs are cut too.
    left = len(ws.specs) * 11 // 3
    while record.kills < kills:
        at = rng.randrange(0, max(left, 1))
        process = ws.spawn("apply", "--auto-approve")
        progress = _Progress(process)
        try:
            wait_for(_reached(progress, at, process), what=f"{at} progress lines", seconds=120)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                record.kills += 1
                record.kill_points.append(progress.lines)
                left -= progress.lines
            else:
                record.finished_first += 1
        finally:
            process.wait(timeout=30)
            progress.join()
            assert process.stdout is not None
            stdout = process.stdout.read()
            process.stdout.close()
            assert process.stderr is not None
            process.stderr.close()
        stderr = "".join(progress.text)
        record.logs.append(stderr)
        if process.returncode != -signal.SIGKILL:
            check_clean_failure(process.returncode, stdout, stderr)
        record.stale_locks_reported += "took over a stale lock" in stderr
        dupes = duplicate_clones(emulator)
        assert not dupes, (
            f"seed {seed}, kill {record.kills}: duplicate clones {dupes}\n"
            + "\n---\n".join(record.logs)
        )
        if process.returncode == 0:
            break  # this run finished before its kill moment: the round is over
    emulator.faults(**NO_FAULTS)
    final = ws.cli("apply", "--auto-approve", expect=None)
    check_clean_failure(final.exit_code, final.stdout, final.stderr)
    assert final.exit_code == 0, final.stderr
    record.stale_locks_reported += "took over a stale lock" in final.stderr
    ws.assert_converged()
    record.duplicates = len(duplicate_clones(emulator))
    assert record.duplicates == 0
    record.converged = True
    return record


# --- hostile input -----------------------------------------------------------------------------

BAD_SPECS = Path(__file__).resolve().parent.parent / "data" / "bad-specs"
PROBLEM_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<message>.+)$")
HUGE_BYTES = 50 * 1024 * 1024


@dataclass
class BadInputTrial:
    case: str
    validate_exit: int
    plan_exit: int
    problems: list[tuple[str, int]]  # (file name, line) of each problem, as validate printed
    first_message: str
    requests: int  # API requests `plan` made (must be 0)


def write_huge_spec(folder: Path) -> Path:
    """A 50 MB spec file (valid YAML, far over the size limit), written at test time."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "huge.yaml"
    entry = b"  job-%07d:\n    source: c4d8c04a69224ef0bfaa2f8e920b8792\n"
    with path.open("wb") as out:
        out.write(b"version: 1\njobs:\n")
        written, index = 0, 0
        while written < HUGE_BYTES:
            chunk = b"".join(entry % (index + n) for n in range(10_000))
            out.write(chunk)
            written += len(chunk)
            index += 10_000
    return path


def bad_input_trial(ws: Workspace, specs_dir: Path) -> BadInputTrial:
    """`validate` and `plan` on a hostile spec directory, against the live emulator."""
    ws.emulator.reset()
    checked = ws.cli("validate", "--specs", str(specs_dir), expect=None)
    planned = ws.cli("plan", "--specs", str(specs_dir), expect=None)
    requests: int = ws.emulator.stats()["total"]
    for result in (checked, planned):
        assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    problems = []
    first = ""
    for line in checked.stdout.splitlines():
        match = PROBLEM_LINE.match(line)
        assert match is not None, f"not a file:line:column problem: {line!r}"
        problems.append((Path(match["file"]).name, int(match["line"])))
        first = first or match["message"]
    planned_problems = [line for line in planned.stderr.splitlines() if PROBLEM_LINE.match(line)]
    assert planned_problems == checked.stdout.splitlines(), "plan and validate disagree"
    assert "error: " in planned.stderr
    return BadInputTrial(
        case=specs_dir.name,
        validate_exit=checked.exit_code,
        plan_exit=planned.exit_code,
        problems=problems,
        first_message=first,
        requests=requests,
    )
