"""wait_until_idle: reads with growing pauses, reports each wait, and gives up on time.

A fake API answers from a script of statuses, and a fake clock moves only when the code sleeps.
"""

from __future__ import annotations

import asyncio

import pytest

from jobspec.errors import IdleTimeout
from jobspec.idle import IdleWait, wait_until_idle
from jobspec.model import LiveJob, RetireHow
from jobspec.plan import Step, StepOp

JOB = "a" * 32


class ScriptedApi:
    """`get_job` answers the next status of the script (the last one repeats); None: gone."""

    def __init__(self, *statuses: str | None) -> None:
        self.statuses = list(statuses)
        self.reads = 0

    async def get_job(self, job_id: str) -> LiveJob | None:
        status = self.statuses[min(self.reads, len(self.statuses) - 1)]
        self.reads += 1
        if status is None:
            return None
        return LiveJob.from_raw({"id": job_id, "name": "Original", "status": status})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def delete(wait_for_idle: bool = False) -> Step:
    return Step(
        op=StepOp.retire,
        job_id=JOB,
        role="original",
        how=RetireHow.deleted,
        wait_for_idle=wait_for_idle,
    )


def run(api: ScriptedApi, clock: Clock, *, timeout: float) -> list[str]:
    said: list[str] = []
    wait = IdleWait(timeout=timeout, clock=clock, sleep=clock.sleep)
    asyncio.run(wait_until_idle(api, delete(), wait=wait, say=said.append, kept="b" * 32))
    return said


def test_returns_at_once_when_idle() -> None:
    api, clock = ScriptedApi("idle"), Clock()
    assert run(api, clock, timeout=60) == []
    assert (api.reads, clock.pauses) == (1, [])


def test_waits_with_growing_pauses_and_says_so() -> None:
    api, clock = ScriptedApi("running", "running", "running", "start", "idle"), Clock()
    said = run(api, clock, timeout=60)
    assert clock.pauses == [1.0, 1.5, 2.25, 3.375]
    assert api.reads == 5
    assert said[0] == (
        f"waiting for original {JOB} to finish its run before deleting it (0 s of 60 s)"
    )
    assert len(said) == 4


def test_pauses_stop_growing_at_the_cap() -> None:
    api, clock = ScriptedApi(*(["running"] * 12), "paused"), Clock()
    run(api, clock, timeout=3600)
    assert max(clock.pauses) == 15.0
    assert clock.pauses[-1] == 15.0


def test_a_job_that_disappears_counts_as_idle() -> None:
    api, clock = ScriptedApi("running", None), Clock()
    run(api, clock, timeout=60)
    assert api.reads == 2


def test_gives_up_after_the_timeout_naming_the_kept_clone() -> None:
    api, clock = ScriptedApi("running"), Clock()
    with pytest.raises(IdleTimeout) as caught:
        run(api, clock, timeout=5)
    assert clock.now == 5.0  # the last pause is cut to the time left
    assert clock.pauses == [1.0, 1.5, 2.25, 0.25]
    assert caught.value.message == (
        f"original {JOB} is still running after 5 s, so it was not deleted; "
        f"its clone {'b' * 32} is kept and the next apply deletes it"
    )
    assert caught.value.hint is not None and "--wait-for-idle=SECONDS" in caught.value.hint


@pytest.mark.parametrize(
    ("every", "flag", "how", "waits"),
    [
        (False, False, RetireHow.deleted, False),
        (False, True, RetireHow.deleted, True),
        (True, False, RetireHow.deleted, True),
        (True, True, RetireHow.manual, False),  # a schedule change never cuts a run short
    ],
)
def test_which_steps_wait(every: bool, flag: bool, how: RetireHow, waits: bool) -> None:
    step = delete(flag).model_copy(update={"how": how})
    assert IdleWait(every_delete=every).applies_to(step) is waits


@pytest.mark.parametrize(
    ("args", "seconds"),
    [
        ([], None),
        (["--wait-for-idle"], 600.0),
        (["--wait-for-idle", "--auto-approve"], 600.0),
        (["plan.json", "--wait-for-idle"], 600.0),
        (["--wait-for-idle=90"], 90.0),
        (["--wait-for-idle=10m"], 600.0),
        (["--wait-for-idle=1h"], 3600.0),
    ],
)
def test_wait_for_idle_takes_an_optional_duration(args: list[str], seconds: float | None) -> None:
    from jobspec.cli.apply import apply

    with apply.make_context("apply", list(args)) as ctx:
        assert ctx.params["wait_for_idle"] == seconds


def test_a_plan_file_after_a_bare_wait_for_idle_is_explained() -> None:
    import click

    from jobspec.cli.apply import apply

    with pytest.raises(click.BadParameter, match="put --wait-for-idle after the plan file"):
        apply.make_context("apply", ["--wait-for-idle", "plan.json"])


def test_a_cancelling_run_is_waited_for_until_it_has_ended() -> None:
    """`cancelling` still moves data: deleting then would cut the transfer short too."""
    api, clock = ScriptedApi("running", "cancelling", "cancelling", "idle"), Clock()
    said = run(api, clock, timeout=60)
    assert api.reads == 4 and len(said) == 3
