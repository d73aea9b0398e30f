"""The crash-consistency campaign: real applies recorded, then every crash state checked.

Real applies (against the emulator over a socket, faults included) run on a file store whose
file-system seam is a `RecordingFs`. At every sync point the server's jobs and the specs are
frozen too. Then, for each sync point, `crash_images` builds every state the disk may be left
in (see crash_states.py), and for each one:
1. the state reads back (nothing synced was damaged, so nothing may be refused), and holds at
   least every record that was synced (its serial is not below the synced-only image's);
2. the next apply, against the server as it was at that instant, converges: one live clone
   per spec, no clone made by recovery and deleted again, state naming each live clone,
   originals retired, and a plan after it with nothing to do.
Many images read back to the same state; step 2 runs once per distinct (state, server, specs).
Used by tests/state/test_crash_states.py and bench/reliability.py.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec.client import DryvIQClient
from jobspec.commands import apply as apply_cmd
from jobspec.settings import load_settings
from jobspec.spec import collect_problems
from jobspec.state import FileStateStore, StateStore, dumps_state
from tests.e2e.conftest import Workspace, standard_specs
from tests.helpers import EmulatorHandle
from tests.state.crash_states import Image, RecordingFs, crash_images, durable_image

CLONE_ROUTE = "POST /v1/jobs/{id}/clone"


def _apply(ws: Workspace, store: StateStore) -> apply_cmd.ApplyOutcome:
    """`jobspec apply --auto-approve` in process; settle 0: the frozen server has no call in
    flight that could still land, so "not found" is final at once."""
    settings = load_settings(env={**os.environ, **ws.env}, config_path=None)
    desired, problems = collect_problems(ws.root / "specs")
    assert not problems, problems
    options = apply_cmd.ApplyOptions(settle=0)

    async def run() -> apply_cmd.ApplyOutcome:
        async with DryvIQClient(settings) as client:
            return await apply_cmd.apply(client, store, desired=desired, options=options)

    return asyncio.run(run())


@dataclass
class Point:
    """A sync point: how much of the log a crash there keeps, and the world at that instant."""

    upto: int
    jobs: list[dict[str, Any]]
    specs: dict[str, dict[str, Any]]


@dataclass
class Report:
    points: int = 0
    images: int = 0  # crash states built and read back
    distinct: int = 0  # distinct (state, server, specs) applied to convergence
    dropped_tails: int = 0  # images whose unsynced journal tail was dropped with a warning
    runs: int = 0  # recorded applies


class Campaign:
    """Record real applies on `ws`, then check every crash state of every sync point."""

    def __init__(self, ws: Workspace, *, checkpoint_lines: int) -> None:
        self.ws = ws
        self.checkpoint_lines = checkpoint_lines
        self.points: list[Point] = []
        self.fs = RecordingFs(ws.root, on_sync_point=self._freeze)
        self.runs = 0

    def _freeze(self, upto: int) -> None:
        jobs = [job for job in self.ws.emulator.all_jobs() if not job.pop("deleted")]
        self.points.append(Point(upto, jobs, copy.deepcopy(self.ws.specs)))

    def run(self, **faults: Any) -> None:
        """One recorded apply, with `faults` set on the emulator for its duration."""
        if faults:
            self.ws.emulator.faults(**faults)
        store = FileStateStore(
            self.ws.state_path, fs=self.fs, checkpoint_lines=self.checkpoint_lines
        )
        before = {job["id"] for job in self.ws.emulator.all_jobs()}
        outcome = _apply(self.ws, store)
        self.ws.emulator.faults(
            fault_503=0, fault_429=0, fault_drop=0, spike_rate=0, latency_ms=0, targets=[]
        )
        assert outcome.result is not None and outcome.result.ok, outcome.result
        self._freeze(len(self.fs.log))  # after the run: the lock released, all folded in
        _assert_converged(self.ws, self.ws.specs, before)
        self.runs += 1

    def check(self, root: Path, *, seed: int = 0) -> Report:
        report = Report(points=len(self.points), runs=self.runs)
        check = Workspace(root=root, emulator=self.ws.emulator, sources=self.ws.sources)
        root.mkdir()
        chosen: dict[str, tuple[Image, Point]] = {}
        for point in self.points:
            floor = _read(check, durable_image(self.fs, point.upto))[0].serial
            world = json.dumps([point.jobs, point.specs], sort_keys=True)
            for image in crash_images(self.fs, point.upto, seed=seed):
                state, warnings = _read(check, image)
                report.images += 1
                report.dropped_tails += any("never synced" in w for w in warnings)
                assert state.serial >= floor, f"lost synced records at log {point.upto}"
                chosen.setdefault(dumps_state(state) + world, (image, point))
        for image, point in chosen.values():
            report.distinct += 1
            _converge(check, image, point)
        return report


def _write_image(ws: Workspace, image: Image) -> None:
    for entry in ws.root.iterdir():
        if entry.is_file():
            entry.unlink()
    for name, data in image.items():
        (ws.root / name).write_bytes(data)


def _read(ws: Workspace, image: Image) -> tuple[Any, list[str]]:
    """The image's state as read, and what a lock holder is told about it (no writes)."""
    _write_image(ws, image)
    store = FileStateStore(ws.state_path)
    state = store.read()
    with store.lock(operation="check") as session:
        assert session.state == state
        warnings = list(session.warnings)
    return state, warnings


def _converge(ws: Workspace, image: Image, point: Point) -> None:
    """Apply from this crash state against the server as it was; check it converged."""
    ws.emulator.reset()
    seeded = set(ws.emulator.seed(point.jobs)) if point.jobs else set()
    ws.specs = copy.deepcopy(point.specs)
    ws.write_specs()
    _write_image(ws, image)
    outcome = _apply(ws, FileStateStore(ws.state_path))
    assert outcome.result is None or outcome.result.ok, outcome.result
    _assert_converged(ws, point.specs, seeded)


def _assert_converged(ws: Workspace, specs: dict[str, dict[str, Any]], before: set[str]) -> None:
    """One live job per clone name, none made and deleted again, state naming each clone,
    originals retired, and nothing left to plan."""
    jobs = ws.emulator.all_jobs(include_deleted=True)
    made = [job for job in jobs if job["id"] not in before]
    assert all(not job["deleted"] for job in made), "a clone was made, then deleted: a duplicate"
    live = Counter(job["name"] for job in jobs if not job["deleted"])
    for address, spec in specs.items():
        name = spec["overrides"]["name"]
        assert live[name] == 1, f"{address}: {live[name]} live jobs named {name!r}"
    state = FileStateStore(ws.state_path).read()
    assert set(state.entries) == set(specs)
    by_id = {job["id"]: job for job in jobs if not job["deleted"]}
    for address, spec in specs.items():
        clone = by_id.get(state.entries[address].clone_id)
        assert clone is not None and clone["name"] == spec["overrides"]["name"], address
        original = by_id.get(spec["source"])
        if spec["original"] == "delete":
            assert original is None, f"{address}: original still live"
        elif spec["original"] == "manual":
            assert original is not None and original["schedule"]["mode"] == "manual", address
    replan = ws.cli("plan", "--detailed-exitcode", expect=0)
    assert replan.stdout.startswith("No changes.")


def small_workload(root: Path, emulator: EmulatorHandle) -> Report:
    """Three specs applied; then an update, a new spec and a clone reply lost (found again)."""
    emulator.reset()  # a campaign of its own: no jobs left by another
    ws = Workspace(root=root / "run", emulator=emulator)
    ws.root.mkdir(parents=True)
    campaign = Campaign(ws, checkpoint_lines=6)
    standard_specs(ws)
    campaign.run()
    ws.add_spec("finance", original="manual", transfer={"lock_propagation": "mirror_owner"})
    ws.add_spec("legal", original="delete", schedule={"mode": "manual"})
    campaign.run(targets=[{"route": CLONE_ROUTE, "fault": "drop", "count": 1}])
    return campaign.check(root / "check")


def large_workload(root: Path, emulator: EmulatorHandle, *, seed: int) -> Report:
    """Nine specs under 503s, then updates, a replace and a new spec under lost replies and
    429s; checkpoints every 4 records, so snapshots are renamed and backups made mid-run."""
    emulator.reset()  # a campaign of its own: no jobs left by another
    ws = Workspace(root=root / "run", emulator=emulator)
    ws.root.mkdir(parents=True)
    campaign = Campaign(ws, checkpoint_lines=4)
    policies = ["manual", "delete", "keep"]
    for i in range(9):
        ws.add_spec(f"team-{i}", original=policies[i % 3], schedule={"mode": "manual"})
    campaign.run(fault_503=0.1, seed=seed)
    ws.add_spec("team-0", original="manual", transfer={"lock_propagation": "mirror_lock"})
    ws.add_spec("team-1", original="delete", transfer={"destination": {"target": {"path": "/N"}}})
    ws.add_spec("extra", original="manual", schedule={"mode": "manual"})
    campaign.run(fault_drop=0.3, fault_429=0.1, seed=seed)
    return campaign.check(root / "check", seed=seed)
