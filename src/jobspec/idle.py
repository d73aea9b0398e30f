"""Deleting a job only once it is idle: `apply --wait-for-idle[=SECONDS]` and `wait_for_idle`.

DryvIQ cancels a deleted job's running execution within about five seconds, so deleting an
original (or a replaced clone) in the middle of a transfer cuts that transfer short. When asked
to, the applier calls `wait_until_idle` before such a delete: it reads the job with a growing
pause between reads (1 s, 1.5 s, 2.25 s … at most 15 s), reports each wait through the apply's
progress callback, and raises `IdleTimeout` once the timeout has passed. The address then fails
alone: its clone is already made and recorded, the delete is not done, so the state still
says the original is not retired and the next plan shows the retirement again.

Setting a schedule to manual never cuts a run short (it only stops the next runs), so only
deletes wait. Time comes from `clock` and `sleep`, which tests replace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from jobspec.api import JobReader
from jobspec.errors import IdleTimeout
from jobspec.model import RetireHow
from jobspec.plan import Step, StepOp

DEFAULT_IDLE_TIMEOUT = 600.0
"""Seconds `--wait-for-idle` (or `wait_for_idle: true`) waits when no timeout is given."""


@dataclass(frozen=True, kw_only=True)
class IdleWait:
    """How deletes wait for a running job. `every_delete`: all of them (`--wait-for-idle`);
    otherwise only the steps whose spec asked (`Step.wait_for_idle`)."""

    timeout: float = DEFAULT_IDLE_TIMEOUT
    every_delete: bool = False
    first_pause: float = 1.0
    pause_growth: float = 1.5
    max_pause: float = 15.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def applies_to(self, step: Step) -> bool:
        deletes = step.op is StepOp.retire and step.how is RetireHow.deleted
        return deletes and (self.every_delete or step.wait_for_idle)


async def wait_until_idle(
    api: JobReader,
    step: Step,
    *,
    wait: IdleWait,
    say: Callable[[str], None],
    kept: str | None,
) -> None:
    """Return once the step's job is not running (or is gone); `IdleTimeout` after the timeout.

    `kept` is the address's clone, named in the error so the reader knows nothing was lost.
    """
    assert step.job_id is not None
    what = f"{step.role.replace('_', ' ')} {step.job_id}"
    started = wait.clock()
    pause = wait.first_pause
    while True:
        job = await api.get_job(step.job_id)
        if job is None or not job.is_running:
            return
        waited = wait.clock() - started
        left = wait.timeout - waited
        if left <= 0:
            clone = f"its clone {kept} is kept and " if kept else ""
            raise IdleTimeout(
                f"{what} is still running after {wait.timeout:g} s, so it was not deleted; "
                f"{clone}the next apply deletes it",
                hint="run `jobspec apply` again once the run has ended, or wait longer "
                "with --wait-for-idle=SECONDS",
            )
        say(
            f"waiting for {what} to finish its run before deleting it "
            f"({waited:.0f} s of {wait.timeout:g} s)"
        )
        await wait.sleep(min(pause, left))
        pause = min(pause * wait.pause_growth, wait.max_pause)
