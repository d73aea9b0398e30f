"""An apply's `Api`, with its mutating calls and its listings kept apart.

A search for a lost clone lists jobs; while the run's own clones are being made the list
changes under it and the listing fails as "kept changing". So a search waits for the
mutations in flight, and new mutations wait while it reads (issue 28).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

from jobspec.api import Api, ForwardingApi
from jobspec.model import LiveJob

__all__ = ["QuietApi"]


class _Quiet:
    """Mutating calls share the server; a search (a listing) has it to itself.

    Any number of mutations, or any number of searches, at a time: a search waits for the
    mutations in flight to answer, and new mutations wait while a search reads or waits.
    """

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._mutating = 0
        self._searching = 0

    @asynccontextmanager
    async def mutation(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._searching == 0)
            self._mutating += 1
        try:
            yield
        finally:
            async with self._changed:
                self._mutating -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def search(self) -> AsyncIterator[None]:
        async with self._changed:
            self._searching += 1
            try:
                await self._changed.wait_for(lambda: self._mutating == 0)
            except BaseException:
                self._searching -= 1
                self._changed.notify_all()
                raise
        try:
            yield
        finally:
            async with self._changed:
                self._searching -= 1
                self._changed.notify_all()


class QuietApi(ForwardingApi):
    """The run's `Api`, with its mutating calls and its listings kept apart (`_Quiet`)."""

    def __init__(self, api: Api) -> None:
        super().__init__(api)
        self._quiet = _Quiet()

    async def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        q: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[LiveJob]:
        given: dict[str, Any] = {"kind": kind, "status": status, "q": q, "keep": keep}
        # A name search too: the run's own clones may bear names that contain the one sought.
        async with self._quiet.search():
            return await self.inner.list_jobs(**{k: v for k, v in given.items() if v is not None})

    async def clone(self, source_id: str, body: Mapping[str, Any]) -> LiveJob:
        async with self._quiet.mutation():
            return await self.inner.clone(source_id, body)

    async def patch(self, job_id: str, body: Mapping[str, Any]) -> LiveJob:
        async with self._quiet.mutation():
            return await self.inner.patch(job_id, body)

    async def delete(self, job_id: str) -> bool:
        async with self._quiet.mutation():
            return await self.inner.delete(job_id)

    async def control(
        self, job_id: str, action: Literal["start", "pause", "resume", "cancel"]
    ) -> LiveJob:
        async with self._quiet.mutation():
            return await self.inner.control(job_id, action)
