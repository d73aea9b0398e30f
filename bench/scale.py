"""Issue 28's table in one run: jobspec against a minimal client, a rate limit, and scale.

    python bench/scale.py --quick        # small sizes: about two minutes on a quiet 2-core box
    python bench/scale.py                # the issue's sizes (1,000 / 10,000 / 30,000 specs)
    python bench/scale.py --skip minimal --skip rate --sizes 10000   # one size of the scale part

Reuses `bench/perf.py`'s world: `jobspec emulator` in its own process, M live jobs seeded
with fixed ids, N specs (5 jobs listed per spec), the real `jobspec` command as a subprocess
(wall, CPU and peak RSS from `os.wait4`, requests from the emulator's own counter). Sections:

  minimal   apply at concurrency 8 / 32 / 64 against a minimal client (raw asyncio streams,
            one keep-alive HTTP/1.1 connection per worker) making the same calls per spec
            (clone, read the clone back, PATCH the original to manual), at 20 ms and 200 ms
  rate      apply at concurrency 32 and 64 behind `rate_limit` 50 calls/s: wall against the
            rate bound (requests / 50), the share of calls refused, failed addresses
  scale     plan and apply (concurrency 32) at N specs over 5N jobs: wall, CPU, peak RSS,
            requests, and the apply's CPU per request beyond its plan phase

Figures are single runs (no medians): read them as a scale, not to the millisecond, and note
the machine's load, which the table prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from perf import (
    Emulator,
    Sample,
    _env,
    _fresh_workdir,
    _job_id,
    machine,
    run_jobspec,
    write_specs,
)

RATE = 50.0  # calls a second the rate-limited section allows


# --- the minimal client -----------------------------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the least a client can do."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        if not status_line.split()[1].startswith(b"2"):
            raise RuntimeError(f"{method} {path}: {status_line!r}")
        reply: dict[str, Any] = json.loads(payload) if payload else {}
        return reply

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _minimal(url: str, *, specs: int, stride: int, concurrency: int) -> int:
    host, port = "127.0.0.1", int(url.rstrip("/").rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(host, port)
    form = b"grant_type=password&username=admin&password=admin"
    writer.write(
        b"POST /connect/token HTTP/1.1\r\nHost: x\r\nContent-Type: "
        b"application/x-www-form-urlencoded\r\nContent-Length: "
        + str(len(form)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + form
    )
    raw = await reader.read()
    writer.close()
    token = json.loads(raw.split(b"\r\n\r\n", 1)[1])["access_token"]
    queue = list(range(specs))
    calls = 1

    async def worker() -> None:
        nonlocal calls
        connection = _Connection(host, port, token)
        try:
            while queue:
                n = queue.pop()
                source = _job_id(n * stride)
                body = {"name": f"Minimal clone {n:05d}", "schedule": {"mode": "manual"}}
                clone = await connection.call("POST", f"/v1/jobs/{source}/clone", body)
                await connection.call("GET", f"/v1/jobs/{clone['job']['id']}?fields=all")
                patch = {"kind": "transfer", "schedule": {"mode": "manual"}}
                await connection.call("PATCH", f"/v1/jobs/{source}", patch)
                calls += 3
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls


def minimal_client(
    emulator: Emulator, *, specs: int, concurrency: int, latency: float
) -> tuple[float, int]:
    emulator.reset_and_seed(specs * 5)
    _faults(emulator, latency_ms=latency)  # after the reset, which restores the flags
    started = time.perf_counter()
    calls = asyncio.run(_minimal(emulator.url, specs=specs, stride=5, concurrency=concurrency))
    return time.perf_counter() - started, calls


# --- sections ---------------------------------------------------------------------------------


def _faults(emulator: Emulator, **body: Any) -> None:
    emulator.http.post("_emulator/faults", json=body).raise_for_status()


def _apply(
    emulator: Emulator,
    work: Path,
    *,
    specs: int,
    concurrency: int,
    plan_first: bool = False,
    latency: float = 0.0,
) -> tuple[Sample | None, Sample, int]:
    emulator.reset_and_seed(specs * 5)
    _faults(emulator, latency_ms=latency)  # after the reset, which restores the flags
    write_specs(work / "specs", specs, jobs=specs * 5)
    _fresh_workdir(work)
    env = _env(emulator)
    plan = run_jobspec(["plan"], cwd=work, env=env, emulator=emulator) if plan_first else None
    args = ["apply", "--auto-approve", "--concurrency", str(concurrency)]
    apply = run_jobspec(args, cwd=work, env=env, emulator=emulator)
    state = json.loads((work / "jobspec.state.json").read_text())
    return plan, apply, len(state["entries"])


def section_minimal(emulator: Emulator, work: Path, *, specs: dict[float, int]) -> list[str]:
    lines = [
        "## apply against a minimal client (same calls per spec)",
        "",
        "| latency | specs | concurrency | jobspec apply | minimal client | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for latency, count in specs.items():
        for concurrency in (8, 32, 64):
            _, apply, _ = _apply(
                emulator, work, specs=count, concurrency=concurrency, latency=latency
            )
            wall, _ = minimal_client(
                emulator, specs=count, concurrency=concurrency, latency=latency
            )
            lines.append(
                f"| {latency:g} ms | {count:,} | {concurrency} | {apply.wall:.1f} s "
                f"| {wall:.1f} s | {apply.wall / wall:.2f}x |"
            )
            print(lines[-1], flush=True)
    return lines


def section_rate(emulator: Emulator, work: Path, *, specs: int) -> list[str]:
    lines = [
        f"## apply behind a {RATE:g} calls/s rate limit (token bucket, burst {RATE:g})",
        "",
        "| specs | concurrency | wall | rate bound | ratio | calls | refused | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for concurrency in (32, 64):
        emulator.http.post("_emulator/reset").raise_for_status()
        _faults(emulator, rate_limit=0)
        emulator.reset_and_seed(specs * 5)
        write_specs(work / "specs", specs, jobs=specs * 5)
        _fresh_workdir(work)
        _faults(emulator, rate_limit=RATE)
        args = ["apply", "--auto-approve", "--concurrency", str(concurrency)]
        sample = run_jobspec(args, cwd=work, env=_env(emulator), emulator=emulator)
        stats = emulator.http.get("_emulator/stats").json()
        refused = stats.get("rate_limited", 0)
        _faults(emulator, rate_limit=0)
        state = json.loads((work / "jobspec.state.json").read_text())
        failed = specs - len(state["entries"])
        bound = sample.requests / RATE
        lines.append(
            f"| {specs:,} | {concurrency} | {sample.wall:.1f} s | {bound:.1f} s "
            f"| {sample.wall / bound:.2f}x | {sample.requests:,} "
            f"| {refused:,} ({refused / sample.requests:.0%}) | {failed} |"
        )
        print(lines[-1], flush=True)
    return lines


def section_scale(emulator: Emulator, work: Path, *, sizes: list[int]) -> list[str]:
    lines = [
        "## plan and apply at scale (5 jobs listed per spec, apply at concurrency 32)",
        "",
        "| specs / jobs | plan wall | plan CPU | plan RSS | apply wall | apply CPU "
        "| apply RSS | apply requests | CPU/request beyond plan | applied |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        plan, apply, applied = _apply(emulator, work, specs=size, concurrency=32, plan_first=True)
        assert plan is not None
        per_request = (apply.cpu - plan.cpu) / max(1, apply.requests - plan.requests)
        lines.append(
            f"| {size:,} / {size * 5:,} | {plan.wall:.1f} s | {plan.cpu:.1f} s "
            f"| {plan.rss_mb:.0f} MB | {apply.wall:.1f} s | {apply.cpu:.1f} s "
            f"| {apply.rss_mb:.0f} MB | {apply.requests:,} | {per_request * 1000:.2f} ms "
            f"| {applied:,}/{size:,} |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes)")
    parser.add_argument("--skip", action="append", default=[], help="minimal, rate or scale")
    parser.add_argument(
        "--sizes", default=None, help="the scale section's spec counts, e.g. 1000,10000"
    )
    options = parser.parse_args()
    if options.quick:
        minimal_sizes = {20.0: 100, 200.0: 40}
        rate_specs, scale_sizes = 150, [1000]
    else:
        minimal_sizes = {20.0: 1000, 200.0: 1000}
        rate_specs, scale_sizes = 1000, [1000, 10_000, 30_000]
    if options.sizes:
        scale_sizes = [int(size) for size in options.sizes.split(",")]
    print(f"# jobspec scale bench ({machine()}; load average {os.getloadavg()[0]:.1f})\n")
    emulator = Emulator(latency_ms=0)
    try:
        with tempfile.TemporaryDirectory(prefix="jobspec-scale-") as root:
            work = Path(root)
            out: list[str] = []
            if "minimal" not in options.skip:
                out += [*section_minimal(emulator, work, specs=minimal_sizes), ""]
            if "rate" not in options.skip:
                out += [*section_rate(emulator, work, specs=rate_specs), ""]
            if "scale" not in options.skip:
                out += [*section_scale(emulator, work, sizes=scale_sizes), ""]
    finally:
        emulator.close()
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
