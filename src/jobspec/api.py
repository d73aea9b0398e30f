"""What the core needs from the DryvIQ API: one Protocol, so the applier, the idle wait and the
command sequences take any implementation (the httpx client, an in-process emulator behind a
transport, a test's recorder) without importing the client or httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, Protocol

from jobspec.endpoints import ServerConnection
from jobspec.model import LiveJob

__all__ = ["Api", "ForwardingApi", "JobReader"]


class JobReader(Protocol):
    """Reading one job: all the idle wait needs."""

    async def get_job(self, job_id: str) -> LiveJob | None: ...


class Api(JobReader, Protocol):
    """The calls plan, apply, import and drift make. `DryvIQClient` is the real one."""

    @property
    def server(self) -> str:
        """The server root this Api talks to (a state records it, and refuses another)."""
        ...

    @property
    def server_time(self) -> float | None:
        """The server's clock from its latest `Date` header (recognises a lost clone)."""
        ...

    async def get_jobs(self, ids: Collection[str]) -> dict[str, LiveJob]: ...

    async def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        q: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[LiveJob]:
        """Every live job; `keep` says what of each raw job to keep (id and name at least)."""
        ...

    async def list_connections(self) -> list[ServerConnection] | None:
        """Every connection on the server; None when it serves no connections route. Read
        only when a spec names a connection."""
        ...

    async def clone(self, source_id: str, body: Mapping[str, Any]) -> LiveJob: ...

    async def patch(self, job_id: str, body: Mapping[str, Any]) -> LiveJob: ...

    async def delete(self, job_id: str) -> bool: ...

    async def control(
        self, job_id: str, action: Literal["start", "pause", "resume", "cancel"]
    ) -> LiveJob:
        """`PATCH v1/jobs/{id}?start=1` and its kin; `start` is never repeated by the client."""
        ...

    async def latest_execution(self, job_id: str) -> dict[str, Any] | None:
        """The job's newest run as the server sent it (untrusted), or None."""
        ...


class ForwardingApi:
    """An `Api` that passes every call to `inner`: a wrapper overrides only the calls it
    changes (`quiet.QuietApi` keeps searches and mutations apart; tests watch or refuse
    calls), and a call added to `Api` is added here once."""

    def __init__(self, inner: Api) -> None:
        self.inner = inner

    @property
    def server(self) -> str:
        return self.inner.server

    @property
    def server_time(self) -> float | None:
        return self.inner.server_time

    async def get_job(self, job_id: str) -> LiveJob | None:
        return await self.inner.get_job(job_id)

    async def get_jobs(self, ids: Collection[str]) -> dict[str, LiveJob]:
        return await self.inner.get_jobs(ids)

    async def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        q: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[LiveJob]:
        return await self.inner.list_jobs(kind=kind, status=status, q=q, keep=keep)

    async def list_connections(self) -> list[ServerConnection] | None:
        return await self.inner.list_connections()

    async def clone(self, source_id: str, body: Mapping[str, Any]) -> LiveJob:
        return await self.inner.clone(source_id, body)

    async def patch(self, job_id: str, body: Mapping[str, Any]) -> LiveJob:
        return await self.inner.patch(job_id, body)

    async def delete(self, job_id: str) -> bool:
        return await self.inner.delete(job_id)

    async def control(
        self, job_id: str, action: Literal["start", "pause", "resume", "cancel"]
    ) -> LiveJob:
        return await self.inner.control(job_id, action)

    async def latest_execution(self, job_id: str) -> dict[str, Any] | None:
        return await self.inner.latest_execution(job_id)
