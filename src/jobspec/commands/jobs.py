"""`jobspec jobs`: the live jobs, as generate would select them, with what each is to jobspec.

Read-only: one listing of every job (plus the server's `q` listing for `--query`), state read
without its lock. A storage migration starts here: `jobs --connection ID` shows every job that
uses the connection and which address, if any, manages it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from jobspec.api import Api
from jobspec.generate import Selection
from jobspec.jobroles import roles
from jobspec.model import DesiredJob, LiveJob
from jobspec.netaddr import server_identity
from jobspec.state import State

__all__ = ["Listed", "list_jobs"]


@dataclass(frozen=True)
class Listed:
    """The selected jobs (by name, then id), each with its role; and how many are live."""

    jobs: list[LiveJob]
    roles: dict[str, str]
    listed: int


async def list_jobs(
    api: Api, *, selection: Selection, state: State, desired: Mapping[str, DesiredJob]
) -> Listed:
    """The live jobs `selection` picks (every job when it has no filter), with their roles."""
    state.check_server(server_identity(api.server))
    if selection.query is not None:
        every, candidates = await asyncio.gather(api.list_jobs(), api.list_jobs(q=selection.query))
    else:
        every = candidates = await api.list_jobs()
    chosen = sorted(
        (job for job in candidates if selection.picks(job)), key=lambda job: (job.name, job.id)
    )
    live = {job.id: job for job in every}
    found = roles(jobs=chosen, desired=desired, prior=state.entries, live=live)
    return Listed(jobs=chosen, roles=found, listed=len(every))
