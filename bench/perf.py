"""jobspec's speed against the round-trip limit: plan, fresh apply and re-plan at scale.

    python bench/perf.py                          # every figure of docs/performance.md's main
                                                  # tables: N=1,000 / M=5,000 at concurrency
                                                  # 8, 16, 32, the curl loop, N=10,000 / M=50,000
    python bench/perf.py --specs 100 --jobs 500 --runs 3 --no-large --no-curl   # a quick look
    python bench/perf.py --table [--quick]        # issue 28's side-by-side table (scale.py):
                                                  # minimal client, rate limit, 1k/10k/30k
    python bench/perf.py --scaling                # plan and re-plan at N = 10 … 10,000 (+100,000
                                                  # projected)

Starts `jobspec emulator --latency-ms L` in its own process (so the server never shares a GIL
with the jobspec being measured) on a free port. Each run resets the emulator, seeds M live jobs
with fixed ids (on `schedule: auto`, so `original: manual` has to PATCH every original), writes
N specs against N of them spread evenly (so every list page is needed), 100 specs a file, and
runs the real `jobspec` command line as a subprocess:

  generate      `jobspec generate --category …`        N of the M jobs are in one category
  plan          `jobspec plan`                         wall, API requests, CPU, peak RSS
  apply         `jobspec apply --auto-approve`          wall, API requests, CPU, peak RSS, at
                `--concurrency` 8 (the default), 16 and 32, each on a freshly seeded world
  re-plan       `jobspec plan --detailed-exitcode`      wall, API requests; must exit 0
  start-up      `jobspec --help`                        wall
  curl loop     the hand-run workflow as a shell loop, measured once per invocation: for each
                spec one `curl` clone and one `curl` PATCH of the original to manual, one at a
                time (2N calls, the clone's summary reply not read back)
  large         plan, apply (concurrency 32) and re-plan at N=10,000 / M=50,000

Client CPU per request is (apply CPU - plan CPU) / (apply requests - plan requests) at
concurrency 8: the CPU the apply spends beyond planning, per API call it sends.

Requests come from the emulator's own counter (`/_emulator/stats`, token calls included); CPU
time and peak RSS come from `os.wait4` on that one child. Each figure is the median of the
runs. Beside each wall time two references are printed:

  lower bound   ceil(requests needed / concurrency) x L, where "needed" is the least the work
                takes: 1 token + ceil(jobs listed / 1000) list pages (or one GET per job when
                fewer), plus for a fresh apply 3 calls per spec (clone, read back, retire).
                Generate needs the same as plan: 1 token + the pages of one listing.
  sequential    the hand-run workflow, computed (not measured) as calls x L, one call at a time:
                one GET per source job and one per clone, plus the clone and retire calls
                (generate: one GET per selected job, to copy its id and settings).

The in-process phase split (load + validate, plan, render) times jobspec's own functions on
the same specs and live jobs, with no network, to show where the CPU goes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PAGE = 1000  # the largest list page the API serves
SPECS_PER_FILE = 100
CONNECTION_A = "2aeae9329f7c4e0b8d5f1a6c3b7e9d01"
CONNECTION_B = "5dc531df6b2a4c8e9f3d7a1b0c5e8f42"
CONNECTION_NEW = "0e3b9a4f5c6d4e7f8a9b0c1d2e3f4a5b"
SELECTED = "Bench selected"  # the category `generate` selects: N of the M jobs


# --- the world: emulator, jobs, specs ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _jobspec_command() -> list[str]:
    script = Path(sys.executable).with_name("jobspec")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jobspec.cli"]


class Emulator:
    """`jobspec emulator` in a subprocess, and its `/_emulator/` controls."""

    def __init__(self, *, latency_ms: float) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = [*_jobspec_command(), "emulator", "--port", str(self.port)]
        command += ["--latency-ms", str(latency_ms)]
        self._process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        self.http = httpx.Client(base_url=self.url, timeout=120)
        deadline = time.monotonic() + 30
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self._process.returncode}")
            try:
                self.http.get("_emulator/stats").raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start in 30 s") from None
                time.sleep(0.05)  # another process is starting: nothing to wait on but time

    def reset_and_seed(self, jobs: int, *, selected: int = 0) -> list[str]:
        """M jobs; `selected` of them, spread evenly, in the category `generate` selects."""
        self.http.post("_emulator/reset").raise_for_status()
        ids = [_job_id(n) for n in range(jobs)]
        stride = jobs // selected if selected else 0
        for start in range(0, jobs, 1000):
            chunk = [
                _live_job(n, selected=bool(stride) and n % stride == stride - 1)
                for n in range(start, min(jobs, start + 1000))
            ]
            self.http.post("_emulator/jobs", json={"jobs": chunk}).raise_for_status()
        return ids

    def requests(self) -> int:
        total: int = self.http.get("_emulator/stats").json()["total"]
        return total

    def all_jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self.http.get("_emulator/jobs").json()["jobs"]
        return jobs

    def close(self) -> None:
        self.http.close()
        self._process.terminate()
        self._process.wait(timeout=10)


def _job_id(n: int) -> str:
    return hashlib.md5(f"bench job {n}".encode()).hexdigest()  # looks like a DryvIQ id


def _live_job(n: int, *, selected: bool = False) -> dict[str, Any]:
    return {
        "id": _job_id(n),
        "kind": "transfer",
        "name": f"Bench job {n:05d}",
        "description": "",
        "category": {"id": 7, "name": SELECTED} if selected else {"id": -1, "name": "Default"},
        "schedule": {"mode": "auto"},
        "stop_policy": {"on_success": 2},
        "transfer": {
            "transfer_type": "sync",
            "source": {"connection": {"id": CONNECTION_A}, "target": {"path": f"/Bench/{n}"}},
            "destination": {
                "connection": {"id": CONNECTION_B},
                "target": {"path": f"/Sites/Bench/{n}"},
            },
            "conflict_resolution": "copy",
            "delete_propagation": ["ignore_destination"],
            "lock_propagation": "ignore",
            "permissions": {"policy": "none", "links": True, "failures": "none"},
            "versioning": {"preserve": "native", "select": "all"},
        },
    }


def write_specs(directory: Path, count: int, *, jobs: int) -> None:
    """`count` specs whose sources are spread evenly over the `jobs` live ones."""
    stride = jobs // count
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for first in range(0, count, SPECS_PER_FILE):
        lines = ["version: 1", "jobs:"]
        for n in range(first, min(count, first + SPECS_PER_FILE)):
            lines += [
                f"  bench-{n:05d}:",
                f'    source: "{_job_id(n * stride)}"',
                "    original: manual",
                "    overrides:",
                f"      name: Bench clone {n:05d}",
                "      schedule: {mode: manual}",
                "      transfer:",
                "        transfer_type: copy",
                "        lock_propagation: ignore",
                "        permissions: {policy: none, links: true, failures: none}",
                "        versioning: {preserve: native, select: all}",
                f"        destination: {{target: {{path: /Archive/{n:05d}}}}}",
            ]
        (directory / f"batch-{first // SPECS_PER_FILE:03d}.yaml").write_text(
            "\n".join(lines) + "\n"
        )


# --- measuring one command --------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, user + system, of the jobspec process
    rss_mb: float  # peak resident set of the jobspec process
    requests: int  # counted by the emulator
    returncode: int


def run_jobspec(
    args: Sequence[str], *, cwd: Path, env: dict[str, str], emulator: Emulator
) -> Sample:
    before = emulator.requests()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*_jobspec_command(), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    errors = process.stderr.read()  # drained as it comes, so a chatty apply never blocks
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    sample = Sample(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        requests=emulator.requests() - before,
        returncode=process.returncode,
    )
    if process.returncode not in (0, 2):
        sys.stderr.write(errors.decode(errors="replace")[-3000:])
        raise RuntimeError(f"`jobspec {' '.join(args)}` exited with {process.returncode}")
    return sample


def _env(emulator: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBSPEC_", "SKYSYNC_"))}
    env |= {
        "JOBSPEC_SERVER": emulator.url,
        "JOBSPEC_USERNAME": "admin",
        "JOBSPEC_PASSWORD": "admin",
        "NO_COLOR": "1",
    }
    return env


def _fresh_workdir(root: Path) -> Path:
    for name in os.listdir(root):
        if name.startswith("jobspec.state"):
            (root / name).unlink()
    return root


# --- reference times --------------------------------------------------------------------------


def reads_needed(ids: int, listed: int, concurrency: int) -> int:
    """The fewest reads that see `ids` jobs among `listed` live ones (mirrors the client)."""
    if ids <= concurrency:
        return ids
    return 1 + min(math.ceil(max(0, listed - PAGE) / PAGE), ids)


def lower_bound(requests: int, concurrency: int, latency: float) -> float:
    return math.ceil(requests / concurrency) * latency


# --- the main table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    samples: list[Sample]
    needed: int
    sequential_calls: int
    concurrency: int


def _median(samples: list[Sample], pick: Callable[[Sample], float]) -> float:
    return statistics.median(pick(sample) for sample in samples)


def _apply_args(concurrency: int) -> list[str]:
    return ["apply", "--auto-approve", "--concurrency", str(concurrency)]


def measure(
    emulator: Emulator,
    *,
    specs: int,
    jobs: int,
    runs: int,
    latency: float,
    concurrency: int,
    more: Sequence[int] = (),
) -> tuple[list[Row], list[float]]:
    """Plan, apply and re-plan at `concurrency`, then a fresh apply at each of `more`."""
    root = Path(tempfile.mkdtemp(prefix="jobspec-bench-"))
    write_specs(root / "specs", specs, jobs=jobs)
    env = _env(emulator)
    plans: list[Sample] = []
    applies: dict[int, list[Sample]] = {c: [] for c in (concurrency, *more)}
    replans: list[Sample] = []
    generates: list[Sample] = []
    (root / "no-specs").mkdir()
    generated = root / "generated.yaml"
    try:
        for run in range(runs):
            emulator.reset_and_seed(jobs, selected=specs)
            work = _fresh_workdir(root)
            generated.unlink(missing_ok=True)
            generate = [
                "generate",
                *("--category", SELECTED),
                *("--set", f"transfer.destination.connection.id={CONNECTION_NEW}"),
                *("--out", str(generated), "--specs", str(root / "no-specs")),
            ]
            generates.append(run_jobspec(generate, cwd=work, env=env, emulator=emulator))
            made = generated.read_text(encoding="utf-8").count("\n    source: ")
            if made != specs:
                raise RuntimeError(f"run {run + 1}: generate wrote {made} specs, not {specs}")
            plans.append(run_jobspec(["plan"], cwd=work, env=env, emulator=emulator))
            applies[concurrency].append(
                run_jobspec(_apply_args(concurrency), cwd=work, env=env, emulator=emulator)
            )
            replan = run_jobspec(
                ["plan", "--detailed-exitcode"], cwd=work, env=env, emulator=emulator
            )
            if replan.returncode != 0:
                raise RuntimeError(f"run {run + 1}: the plan after apply is not empty")
            replans.append(replan)
            shown = [
                f"generate {generates[-1].wall:.2f} s",
                f"plan {plans[-1].wall:.2f} s",
                f"apply {applies[concurrency][-1].wall:.2f} s",
            ]
            for other in more:
                emulator.reset_and_seed(jobs)
                work = _fresh_workdir(root)
                applies[other].append(
                    run_jobspec(_apply_args(other), cwd=work, env=env, emulator=emulator)
                )
                shown.append(f"apply@{other} {applies[other][-1].wall:.2f} s")
            shown.append(f"re-plan {replan.wall:.2f} s")
            print(f"  run {run + 1}/{runs}: {', '.join(shown)}", file=sys.stderr)
        startup = []
        for _ in range(max(runs, 5)):
            started = time.perf_counter()
            subprocess.run([*_jobspec_command(), "--help"], check=True, capture_output=True)
            startup.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    plan_reads = reads_needed(specs, jobs, concurrency)
    replan_reads = reads_needed(2 * specs, jobs + specs, concurrency)
    listing = 1 + math.ceil(jobs / PAGE)  # a token and one listing, whatever is selected
    rows = [
        Row(
            f"generate ({specs:,} of {jobs:,})",
            generates,
            listing,
            sequential_calls=specs,
            concurrency=concurrency,
        ),
        Row("plan", plans, 1 + plan_reads, sequential_calls=specs, concurrency=concurrency),
    ]
    for level, samples in applies.items():
        rows.append(
            Row(
                f"fresh apply, concurrency {level}",
                samples,
                1 + reads_needed(specs, jobs, level) + 3 * specs,
                sequential_calls=4 * specs,
                concurrency=level,
            )
        )
    rows.append(
        Row(
            "re-plan after apply",
            replans,
            1 + replan_reads,
            sequential_calls=2 * specs,
            concurrency=concurrency,
        )
    )
    return rows, startup


def table(rows: list[Row], *, latency: float) -> str:
    lines = [
        "| command | wall (median) | CPU | peak RSS | requests | lower bound "
        "| wall ÷ bound | sequential (computed) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        wall = _median(row.samples, lambda s: s.wall)
        bound = lower_bound(row.needed, row.concurrency, latency)
        lines.append(
            f"| {row.name} | {wall:.2f} s | {_median(row.samples, lambda s: s.cpu):.2f} s "
            f"| {_median(row.samples, lambda s: s.rss_mb):.0f} MB "
            f"| {_median(row.samples, lambda s: s.requests):.0f} "
            f"| {bound:.2f} s ({row.needed} needed) | {wall / bound:.2f}× "
            f"| {row.sequential_calls * latency:.1f} s ({row.sequential_calls:,} calls) |"
        )
    return "\n".join(lines)


def _plan_and_apply(rows: list[Row]) -> tuple[Row, Row]:
    """The plan row and the first fresh-apply row (the default concurrency), by name."""
    plan = next(row for row in rows if row.name == "plan")
    apply = next(row for row in rows if row.name.startswith("fresh apply"))
    return plan, apply


def cpu_per_request(plan: Row, apply: Row) -> float:
    """Milliseconds of client CPU per API call: what the apply spends beyond its plan."""
    cpu = _median(apply.samples, lambda s: s.cpu) - _median(plan.samples, lambda s: s.cpu)
    calls = _median(apply.samples, lambda s: s.requests)
    calls -= _median(plan.samples, lambda s: s.requests)
    return cpu / calls * 1000


# --- the hand-run alternative -----------------------------------------------------------------

CURL_LOOP = r"""
set -eu
token=$(curl -sf -d grant_type=password -d username=admin -d password=admin \
    --data-urlencode 'scope=profile roles' "${SERVER}connect/token" \
    | sed -e 's/.*"access_token":"\([^"]*\)".*/\1/')
while read -r source n; do
  body=$(printf '{"name":"Curl clone %s","schedule":{"mode":"manual"},%s' "$n" \
    '"transfer":{"transfer_type":"copy","destination":{"target":{"path":"/Archive/'"$n"'"}}}}')
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "$body" \
    "${SERVER}v1/jobs/$source/clone"
  curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' \
    -d '{"kind":"transfer","transfer_type":"copy","schedule":{"mode":"manual"}}' \
    "${SERVER}v1/jobs/$source"
done < "$LIST"
"""


def curl_loop(emulator: Emulator, *, specs: int, jobs: int) -> Sample:
    """The hand-run workflow, measured: a shell loop of curl calls, one at a time."""
    emulator.reset_and_seed(jobs)
    stride = jobs // specs
    root = Path(tempfile.mkdtemp(prefix="jobspec-curl-"))
    try:
        listing = root / "sources.txt"
        listing.write_text("".join(f"{_job_id(n * stride)} {n:05d}\n" for n in range(specs)))
        (root / "loop.sh").write_text(CURL_LOOP)
        env = {**os.environ, "SERVER": emulator.url, "LIST": str(listing)}
        before = emulator.requests()
        started = time.perf_counter()
        process = subprocess.Popen(["bash", str(root / "loop.sh")], env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"the curl loop exited with {code}")
        return Sample(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            rss_mb=usage.ru_maxrss / 1024,
            requests=emulator.requests() - before,
            returncode=code,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def speedups(rows: list[Row], curl: Sample) -> str:
    lines = [
        f"curl loop (measured once, {curl.requests} calls one at a time): {curl.wall:.1f} s",
    ]
    for row in rows:
        if row.name.startswith("fresh apply"):
            wall = _median(row.samples, lambda s: s.wall)
            lines.append(f"  {row.name}: {wall:.2f} s, {curl.wall / wall:.1f}× faster than curl")
    return "\n".join(lines)


# --- the large world --------------------------------------------------------------------------


def large(
    emulator: Emulator, *, specs: int, jobs: int, runs: int, latency: float, concurrency: int
) -> str:
    """Plan, apply once and re-plan at N specs against M jobs: time, memory, requests."""
    root = Path(tempfile.mkdtemp(prefix="jobspec-large-"))
    write_specs(root / "specs", specs, jobs=jobs)
    env = _env(emulator)
    try:
        emulator.reset_and_seed(jobs)
        work = _fresh_workdir(root)
        plans = [run_jobspec(["plan"], cwd=work, env=env, emulator=emulator) for _ in range(runs)]
        print(f"  large plan: {[round(p.wall, 2) for p in plans]}", file=sys.stderr)
        apply = run_jobspec(_apply_args(concurrency), cwd=work, env=env, emulator=emulator)
        print(f"  large apply: {apply.wall:.2f} s", file=sys.stderr)
        replans = []
        for _ in range(runs):
            replan = run_jobspec(
                ["plan", "--detailed-exitcode"], cwd=work, env=env, emulator=emulator
            )
            if replan.returncode != 0:
                raise RuntimeError("large: the plan after apply is not empty")
            replans.append(replan)
        print(f"  large re-plan: {[round(p.wall, 2) for p in replans]}", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        Row("plan", plans, 0, 0, concurrency=8),
        Row(f"apply, concurrency {concurrency} (1 run)", [apply], 0, 0, concurrency=concurrency),
        Row("re-plan after apply", replans, 0, 0, concurrency=8),
    ]
    lines = [
        "| command | wall (median) | CPU | peak RSS | requests |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {_median(row.samples, lambda s: s.wall):.2f} s "
            f"| {_median(row.samples, lambda s: s.cpu):.2f} s "
            f"| {_median(row.samples, lambda s: s.rss_mb):.0f} MB "
            f"| {_median(row.samples, lambda s: s.requests):.0f} |"
        )
    ratio = _median(replans, lambda s: s.wall) / _median(plans, lambda s: s.wall)
    lines.append(f"\nre-plan ÷ plan: {ratio:.2f}×")
    return "\n".join(lines)


# --- the CPU split, in process ----------------------------------------------------------------


def phases(emulator: Emulator, *, specs: int, jobs: int, repeat: int = 3) -> dict[str, float]:
    """Median seconds of load+validate, plan and render on the live jobs, no network."""
    from jobspec.model import LiveJob
    from jobspec.planner import make_plan
    from jobspec.render import render_text
    from jobspec.spec import collect_problems

    root = Path(tempfile.mkdtemp(prefix="jobspec-phases-"))
    try:
        write_specs(root, specs, jobs=jobs)
        # the world before the first apply: without the clones the runs made (a plan from an
        # empty state refuses to clone over jobs that already bear its clones' names)
        raw = [
            job
            for job in emulator.all_jobs()
            if not job.get("deleted") and not job["name"].startswith("Bench clone ")
        ]
        for job in raw:
            job.pop("deleted", None)
        timings: dict[str, list[float]] = {"load": [], "live": [], "plan": [], "render": []}
        for _ in range(repeat):
            started = time.perf_counter()
            desired, problems = collect_problems(root)
            assert not problems, problems[:3]
            timings["load"].append(time.perf_counter() - started)
            started = time.perf_counter()
            live = {job["id"]: LiveJob.from_raw(job) for job in raw}
            timings["live"].append(time.perf_counter() - started)
            started = time.perf_counter()
            plan = make_plan(desired=desired, prior={}, live=live, lineage=None, serial=0)
            timings["plan"].append(time.perf_counter() - started)
            started = time.perf_counter()
            render_text(plan, color=False)
            timings["render"].append(time.perf_counter() - started)
        return {name: statistics.median(values) for name, values in timings.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def scaling(
    *, latency: float, runs: int, concurrency: int, sizes: Sequence[int], project: int | None
) -> str:
    """Plan and re-plan at each N against M = max(5N, 5,000) jobs (the apply between them runs
    at concurrency 32); with `project`, one more row extrapolated linearly from the last two."""
    lines = [
        "| N specs | M jobs | plan wall | requests | lower bound | process CPU | peak RSS "
        "| re-plan wall | re-plan requests | load + validate | parse live jobs | plan | render "
        "| CPU µs per spec |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    emulator = Emulator(latency_ms=latency * 1000)
    measured: list[tuple[int, int, list[float]]] = []
    try:
        for size in sizes:
            jobs = max(5 * size, 5000)
            emulator.reset_and_seed(jobs)
            root = Path(tempfile.mkdtemp(prefix="jobspec-scale-"))
            try:
                write_specs(root / "specs", size, jobs=jobs)
                env = _env(emulator)
                samples = [
                    run_jobspec(["plan"], cwd=root, env=env, emulator=emulator) for _ in range(runs)
                ]
                split = phases(emulator, specs=size, jobs=jobs)
                run_jobspec(_apply_args(32), cwd=root, env=env, emulator=emulator)
                replans = [
                    run_jobspec(
                        ["plan", "--detailed-exitcode"], cwd=root, env=env, emulator=emulator
                    )
                    for _ in range(runs)
                ]
            finally:
                shutil.rmtree(root, ignore_errors=True)
            needed = 1 + reads_needed(size, jobs, concurrency)
            work = split["load"] + split["plan"] + split["render"]
            figures = [
                _median(samples, lambda s: s.wall),
                _median(samples, lambda s: s.requests),
                lower_bound(needed, concurrency, latency),
                _median(samples, lambda s: s.cpu),
                _median(samples, lambda s: s.rss_mb),
                _median(replans, lambda s: s.wall),
                _median(replans, lambda s: s.requests),
                split["load"],
                split["live"],
                split["plan"],
                split["render"],
                work / size * 1e6,
            ]
            measured.append((size, jobs, figures))
            lines.append(_scaling_row(size, jobs, figures, projected=False))
            print(
                f"  N={size}: plan {figures[0]:.2f} s, re-plan {figures[5]:.2f} s", file=sys.stderr
            )
    finally:
        emulator.close()
    if project is not None and len(measured) >= 2:
        (n0, _, low), (n1, _, high) = measured[-2], measured[-1]
        scale = (project - n0) / (n1 - n0)
        figures = [a + (b - a) * scale for a, b in zip(low, high, strict=True)]
        figures[-1] = high[-1]  # per spec: constant if linear
        lines.append(_scaling_row(project, max(5 * project, 5000), figures, projected=True))
    return "\n".join(lines)


def _scaling_row(size: int, jobs: int, f: list[float], *, projected: bool) -> str:
    mark = " (projected)" if projected else ""
    return (
        f"| {size:,}{mark} | {jobs:,} | {f[0]:.2f} s | {f[1]:.0f} | {f[2]:.2f} s | {f[3]:.2f} s "
        f"| {f[4]:.0f} MB | {f[5]:.2f} s | {f[6]:.0f} | {f[7]:.3f} s | {f[8]:.3f} s "
        f"| {f[9]:.3f} s | {f[10]:.3f} s | {f[11]:.0f} |"
    )


# --- entry point ------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} CPUs ({model}); "
        f"Python {platform.python_version()}; load average before the run {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--specs", type=int, default=1000, help="N specs [1000]")
    parser.add_argument("--jobs", type=int, default=5000, help="M live jobs, at least N [5000]")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="L per request [20]")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; medians [5]")
    parser.add_argument("--concurrency", type=int, default=8, help="jobspec's default [8]")
    parser.add_argument(
        "--more-concurrency",
        type=int,
        nargs="*",
        default=[16, 32],
        help="fresh applies at these concurrencies too [16 32]",
    )
    parser.add_argument("--no-curl", action="store_true", help="skip the measured curl loop")
    parser.add_argument(
        "--no-large", action="store_true", help="skip N=10,000 / M=50,000 (plan, apply, re-plan)"
    )
    parser.add_argument("--large-specs", type=int, default=10_000, help="large N [10000]")
    parser.add_argument("--large-jobs", type=int, default=50_000, help="large M [50000]")
    parser.add_argument("--large-runs", type=int, default=3, help="runs of the large plans [3]")
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="plan and re-plan at N = 10, 100, 1,000 and 10,000 (+ 100,000 projected) instead",
    )
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[10, 100, 1000, 10000], help="--scaling's N"
    )
    parser.add_argument(
        "--project", type=int, default=100_000, help="--scaling: one more N, projected [100000]"
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="issue 28's table instead (bench/scale.py): minimal client, rate limit, scale",
    )
    parser.add_argument("--quick", action="store_true", help="--table at small sizes (~2 min)")
    args = parser.parse_args()
    if args.table:
        import scale  # bench/scale.py, beside this script

        sys.argv = [sys.argv[0], *(["--quick"] if args.quick else [])]
        scale.main()
        return
    latency = args.latency_ms / 1000
    print(machine())
    if args.scaling:
        print(f"\nplan scaling, L = {args.latency_ms:g} ms, median of {args.runs} runs\n")
        print(
            scaling(
                latency=latency,
                runs=args.runs,
                concurrency=args.concurrency,
                sizes=args.sizes,
                project=args.project or None,
            )
        )
        print(json.dumps({"load_after": os.getloadavg()}), file=sys.stderr)
        return
    if args.jobs < args.specs:
        parser.error("--jobs must be at least --specs (each spec clones its own live job)")
    emulator = Emulator(latency_ms=args.latency_ms)
    try:
        rows, startup = measure(
            emulator,
            specs=args.specs,
            jobs=args.jobs,
            runs=args.runs,
            latency=latency,
            concurrency=args.concurrency,
            more=args.more_concurrency,
        )
        split = phases(emulator, specs=args.specs, jobs=args.jobs)
        curl = None if args.no_curl else curl_loop(emulator, specs=args.specs, jobs=args.jobs)
        big = (
            None
            if args.no_large
            else large(
                emulator,
                specs=args.large_specs,
                jobs=args.large_jobs,
                runs=args.large_runs,
                latency=latency,
                concurrency=32,
            )
        )
    finally:
        emulator.close()
    print(
        f"\nN = {args.specs:,} specs, M = {args.jobs:,} live jobs, L = {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency} unless named, median of {args.runs} runs\n"
    )
    print(table(rows, latency=latency))
    print(
        f"\nclient CPU per request at concurrency {args.concurrency} (apply CPU - plan CPU) / "
        f"(apply requests - plan requests): {cpu_per_request(*_plan_and_apply(rows)):.2f} ms"
    )
    if curl is not None:
        print()
        print(speedups(rows, curl))
    print(
        f"\nplan CPU split (in process, no network): load + validate {split['load']:.3f} s, "
        f"parse live jobs {split['live']:.3f} s, plan {split['plan']:.3f} s, "
        f"render {split['render']:.3f} s"
    )
    print(f"`jobspec --help`: {statistics.median(startup):.3f} s (median of {len(startup)})")
    if big is not None:
        print(
            f"\nN = {args.large_specs:,} specs, M = {args.large_jobs:,} live jobs, "
            f"L = {args.latency_ms:g} ms, plans median of {args.large_runs} runs\n"
        )
        print(big)
    print(json.dumps({"load_after": os.getloadavg()}), file=sys.stderr)


if __name__ == "__main__":
    main()
