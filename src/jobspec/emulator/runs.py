"""Job runs: executions that start, last a while and end, on the emulator's own clock.

- `PATCH v1/jobs/{id}?start=1` starts a run: the job goes `running` and gets an `execution`.
  After `run_seconds` of running time (pauses do not count) the run ends `completed`: the job
  goes back to `idle`, `execution` is cleared and `previous_execution` holds the run. A job
  whose name contains one of `fail_names` ends its runs `failed` instead (with error counts in
  the execution's `stats`), one containing one of `warn_names` ends them `warn`.
  `pause` keeps the run, `resume` continues it, `cancel` ends it `cancelled`.
- With `auto_interval` > 0, every job on `schedule.mode: auto` (and not `disabled`) starts by
  itself `auto_interval` seconds after a tick first saw it on auto, and again that long after
  each start (later, if its run is still going then). Each tick then looks at every job, so
  this costs O(jobs) per request; 0 (the default) starts nothing and costs nothing.
- A deleted job's run is not stopped by the delete: like DryvIQ's nodes, a sweep every
  `cancel_interval` seconds (counted from the emulator's start) cancels the runs of deleted
  jobs. Their history is kept.
- `GET v1/jobs/{id}/history` lists a job's executions, newest first (see app.py).

Executions look like the vendor client's `JobExecution`: `{"id": 1, "job_id": "…",
"status": "running" | "completed" | "failed" | "warn" | "cancelled", "phase", "progress"
(0 to 1), "start_time": …, "end_time": … | null, "duration" (seconds, once ended), "stats":
{"errors": {"failures", "warnings"}}, "trigger": "manual" | "schedule"}` with epoch-second
times. History lives in memory only
(a `--data` file keeps the job's `previous_execution`, not its history). A job seeded as
`running` (the demo has one, tests seed them) gets a run that started when it was seeded.

Nothing here reads the wall clock or sleeps: every transition is worked out by `tick()` from
the injected clock, at the exact time it was due, however late `tick()` is called. The app
ticks before every request and a background task ticks a few times a second, so tests with a
fake clock move time and call `tick()` (or make a request) instead of sleeping.

Settings start from the command line and change at run time through `POST /_emulator/runs`
(a partial JSON update; `GET` reads them). Run lengths are read when a run is checked, so
shortening `run_seconds` ends longer runs already going.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from jobspec.emulator.store import JobStore, StoredJob

MAX_CATCH_UP = 1000
"""Scheduled starts caught up in one tick at most (after a fake clock's long jump)."""


class RunsRejected(Exception):
    """A runs update the emulator refuses; each problem is one error description."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RunSettings:
    """How runs go. Declared once: `EmulatorConfig` extends this class, as it does
    `FaultSettings`."""

    run_seconds: float = 30.0
    """How long a started run lasts, in seconds of running time."""
    auto_interval: float = 0.0
    """Seconds between the runs of a job on schedule mode auto; 0: no run starts by itself."""
    cancel_interval: float = 5.0
    """Seconds between the sweeps that cancel the runs of deleted jobs (0: at once)."""
    fail_names: tuple[str, ...] = ()
    """Runs of jobs whose name contains one of these end `failed`, with error counts."""
    warn_names: tuple[str, ...] = ()
    """Runs of jobs whose name contains one of these end `warn`, with warning counts."""

    def updated(self, body: Mapping[str, Any]) -> RunSettings:
        """A partial update; every number >= 0, every name list a list of strings. Raises
        `RunsRejected`."""
        problems = []
        changes: dict[str, Any] = {}
        known = asdict(self)
        for key, value in body.items():
            if key not in known:
                problems.append(f"unknown setting {key!r}; known: {', '.join(known)}")
            elif key in _NAME_LISTS:
                if not isinstance(value, list) or not all(
                    isinstance(item, str) and item for item in value
                ):
                    problems.append(f"{key} must be a list of non-empty strings, got {value!r}")
                else:
                    changes[key] = tuple(value)
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                problems.append(f"{key} must be a number >= 0, got {value!r}")
            else:
                changes[key] = float(value)
        if problems:
            raise RunsRejected(problems)
        return replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        """The run settings alone, also of an `EmulatorConfig`."""
        return {
            item.name: list(value)
            if isinstance(value := getattr(self, item.name), tuple)
            else value
            for item in fields(RunSettings)
        }

    def ending(self, name: str) -> tuple[str, dict[str, Any]]:
        """How a run of a job named `name` ends: its status and its error counts."""
        if any(part in name for part in self.fail_names):
            return "failed", {"errors": {"failures": FAILED_RUN_ERRORS, "warnings": 0}}
        if any(part in name for part in self.warn_names):
            return "warn", {"errors": {"failures": 0, "warnings": WARN_RUN_WARNINGS}}
        return "completed", {"errors": {"failures": 0, "warnings": 0}}


_NAME_LISTS = ("fail_names", "warn_names")
FAILED_RUN_ERRORS = 3
"""Failures a `fail_names` run reports in `stats.errors.failures`."""
WARN_RUN_WARNINGS = 2
"""Warnings a `warn_names` run reports in `stats.errors.warnings`."""


@dataclass
class _Run:
    """A run in progress: its execution record, and how much running time it has had."""

    execution: dict[str, Any]
    ran: float = 0.0  # seconds run before the current stretch
    since: float | None = None  # start of the current stretch; None while paused
    deleted_at: float | None = None


class Runs:
    """Every job's runs; changes jobs in `store` as runs start and end."""

    def __init__(self, store: JobStore, settings: RunSettings, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self.reset(settings)

    def reset(self, settings: RunSettings) -> None:
        """No runs, no history; the sweep grid starts now."""
        self.settings = settings
        self._born = self._clock()
        self._active: dict[str, _Run] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._last_end: dict[str, float] = {}
        self._next_id = 1
        self._auto_due: dict[str, float] = {}

    # --- controls (the PATCH ?start=1 family) ---------------------------------------------------

    def control(self, job_id: str, action: str) -> StoredJob:
        """Carry out start / pause / resume / cancel on a live job; returns it as stored now."""
        self.tick()
        now = self._clock()
        run = self._active.get(job_id)
        if action in ("start", "resume"):
            if run is None:
                return self._start(job_id, now, trigger="manual")
            if run.since is None:  # paused: carry on
                run.since = now
            return self._set(job_id, status="running")
        if action == "pause":
            if run is not None and run.since is not None:
                run.ran += now - run.since
                run.since = None
            return self._set(job_id, status="paused")
        assert action == "cancel"
        if run is not None:
            return self._end(job_id, run, at=now, status="cancelled")
        return self._set(job_id, status="idle")

    def adopt(self, seeded: Iterable[StoredJob]) -> None:
        """Give each job seeded as running a run of its own, started now."""
        now = self._clock()
        for stored in seeded:
            running = stored.job.get("status") in ("start", "resume", "running")
            if running and stored.id not in self._active and not stored.deleted:
                self._start(stored.id, now, trigger="manual")

    def deleted(self, job_id: str) -> None:
        """The job was deleted now: its run (if any) waits for the next cancel sweep."""
        run = self._active.get(job_id)
        if run is not None:
            run.deleted_at = self._clock()
        self._auto_due.pop(job_id, None)

    def history(self, job_id: str) -> list[dict[str, Any]]:
        """The job's executions, newest first, the running one included (with its progress)."""
        self.tick()
        run = self._active.get(job_id)
        if run is not None:
            run.execution["progress"] = self._progress(run)
        return [dict(execution) for execution in reversed(self._history.get(job_id, []))]

    def _progress(self, run: _Run) -> float:
        """The share of `run_seconds` the run has had, 0 to 1, rounded to a hundredth."""
        ran = run.ran + (self._clock() - run.since if run.since is not None else 0.0)
        length = self.settings.run_seconds
        return 1.0 if length <= 0 else round(min(1.0, max(0.0, ran / length)), 2)

    # --- time ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Carry out every transition due by now, each at the time it was due."""
        now = self._clock()
        self._end_due(now)
        if self.settings.auto_interval > 0:
            # catch up run by run when ticks came late (a fake clock jumps), a bounded number
            for _ in range(MAX_CATCH_UP):
                if not self._start_scheduled(now):
                    break
                self._end_due(now)

    def _end_due(self, now: float) -> None:
        for job_id, run in list(self._active.items()):
            ends = self._ends_at(run)
            cancels = self._cancelled_at(run)
            if cancels is not None and cancels <= now and (ends is None or cancels < ends):
                self._end(job_id, run, at=cancels, status="cancelled")
            elif ends is not None and ends <= now:
                stored = self._store.get(job_id, include_deleted=True)
                name = stored.job.get("name") if stored is not None else None
                status, stats = self.settings.ending(name if isinstance(name, str) else "")
                self._end(job_id, run, at=ends, status=status, stats=stats)

    def _ends_at(self, run: _Run) -> float | None:
        if run.since is None:
            return None
        return run.since + max(0.0, self.settings.run_seconds - run.ran)

    def _cancelled_at(self, run: _Run) -> float | None:
        """The first sweep at or after the delete (sweeps are every interval from the start)."""
        if run.deleted_at is None:
            return None
        interval = self.settings.cancel_interval
        if interval <= 0:
            return run.deleted_at
        sweeps = math.ceil((run.deleted_at - self._born) / interval)
        return self._born + sweeps * interval

    def _start_scheduled(self, now: float) -> bool:
        """Start every idle scheduled job whose time has come; False if none was due."""
        interval = self.settings.auto_interval
        started = False
        scheduled = set()
        for stored in self._store.live():
            job = stored.job
            schedule = job.get("schedule")
            if not (isinstance(schedule, dict) and schedule.get("mode") == "auto"):
                continue
            if job.get("disabled") is True:
                continue
            scheduled.add(stored.id)
            due = self._auto_due.setdefault(stored.id, now + interval)
            if due <= now and stored.id not in self._active:
                # started when due, or when the run that was going then ended
                at = max(due, self._last_end.get(stored.id, due))
                self._start(stored.id, at, trigger="schedule")
                self._auto_due[stored.id] = at + interval
                started = True
        for job_id in set(self._auto_due) - scheduled:
            del self._auto_due[job_id]
        return started

    # --- changing jobs ------------------------------------------------------------------------

    def _start(self, job_id: str, at: float, *, trigger: str) -> StoredJob:
        execution = {
            "id": self._next_id,
            "job_id": job_id,
            "status": "running",
            "phase": "executing",
            "progress": 0.0,
            "start_time": int(at),
            "end_time": None,
            "stats": {"errors": {"failures": 0, "warnings": 0}},
            "trigger": trigger,
        }
        self._next_id += 1
        self._active[job_id] = _Run(execution=execution, since=at)
        self._history.setdefault(job_id, []).append(execution)
        started = self._set(job_id, status="running", execution=dict(execution))
        if started.job.get("kind") == "folder_mapping":
            self._recreate_children(job_id, at)
        return started

    def _recreate_children(self, parent_id: str, at: float) -> None:
        """A folder-mapping parent's run makes its deleted children again, as DryvIQ does ("the
        job will eventually be recreated when the parent job runs again"): a new job with a
        new id, the same name and settings, for each deleted child no live child replaces."""
        children = [s for s in self._store.everything() if s.job.get("parent_id") == parent_id]
        alive = {s.job.get("name") for s in children if not s.deleted}
        for child in children:
            name = child.job.get("name")
            if not child.deleted or name in alive:
                continue
            alive.add(name)
            copy = {k: v for k, v in child.job.items() if k not in ("execution",)}
            stamp = int(at)
            copy.update(
                id=uuid.uuid4().hex,
                status="idle",
                created_on=stamp,
                modified_on=stamp,
                previous_execution=None,
            )
            self._store.add(copy)

    def _end(
        self, job_id: str, run: _Run, *, at: float, status: str, stats: dict[str, Any] | None = None
    ) -> StoredJob:
        del self._active[job_id]
        self._last_end[job_id] = at
        progress = 1.0 if status != "cancelled" else self._progress(run)
        run.execution.update(
            status=status,
            phase="complete",
            progress=progress,
            end_time=int(at),
            duration=int(at) - int(run.execution["start_time"]),
        )
        if stats is not None:
            run.execution["stats"] = stats
        previous = dict(run.execution)
        return self._set(job_id, status="idle", execution=None, previous_execution=previous)

    def _set(self, job_id: str, **fields: Any) -> StoredJob:
        """Write run fields into the stored job (deleted or not); `modified_on` stays: runs are
        not edits."""
        stored = self._store.get(job_id, include_deleted=True)
        assert stored is not None
        job = {**stored.job, **fields}
        if job.get("execution") is None:
            job.pop("execution", None)
        return self._store.replace(job)
