"""Listing jobs: large pages in a stable order, read concurrently once the total is known.

Pages are asked for sorted by id (`sort=id ASC`, a unique key: offset pages neither repeat nor
skip a job between reads), fetched concurrently by offset once the first page tells the total,
else by following `next` links, with a bound on pages and an error for links that repeat or
never end. A listing that changes while it is read (`ListChanged`) is read again. A job marked
`status: deleted` is gone, and one jobspec cannot read (an odd id, no name: a system job) is
skipped with one warning per listing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

from jobspec.client._replies import live_job, reply, skipped_job
from jobspec.client._transport import Requester
from jobspec.errors import ApiError
from jobspec.model import LiveJob
from jobspec.scrub import Scrubber

T = TypeVar("T")

PAGE_LIMIT = 1000  # the largest page the API accepts
LISTING_DEADLINE = 600.0  # seconds for a whole job listing, every page and retry included
MAX_PAGES = 10_000  # a bound on the pages of one listing, with or without a total_count
LIST_SORT = "id ASC"  # a unique key: offset pages neither repeat nor skip a job between reads
LIST_ATTEMPTS = 3  # re-reads of a job list that changed while it was being paged

Slim = Callable[[dict[str, Any]], dict[str, Any]]  # what a listing keeps of each raw job

_log = logging.getLogger("jobspec.client")


@dataclass(frozen=True)
class Page:
    jobs: list[LiveJob]  # the readable, live jobs of the page
    keys: list[str]  # one per item the page held, deleted and unreadable ones included
    more: bool  # the server says the listing goes on
    total: int | None = None  # `meta.total_count`, when given
    next_url: str | None = None  # `meta.links.next.href`, resolved
    skipped: tuple[str, ...] = ()  # why each unreadable item was skipped


class ListChanged(Exception):
    """Pages of one listing disagree: jobs were added or removed while we read."""


class Lister:
    """Reads job listings for one client, through its `request`."""

    def __init__(
        self,
        *,
        request: Requester,
        base: str,
        scrub: Scrubber,
        warn: Callable[[str], None],
        max_pages: int,
        listing_deadline: float,
        ignore: Collection[str] = (),
    ) -> None:
        self._ignore = {text.casefold() for text in ignore}
        self._warned: set[str] = set()  # once per client, which is once per command
        self._request = request
        self._base = base
        self._api = base + "v1/"
        self._scrub = scrub
        self._warn = warn
        self._max_pages = max_pages
        self._listing_deadline = listing_deadline
        self._sort: str | None = LIST_SORT

    async def bounded(self, listing: Awaitable[T]) -> T:
        """A whole listing within `listing_deadline`, however the server pages or trickles."""
        try:
            async with asyncio.timeout(self._listing_deadline):
                return await listing
        except TimeoutError:
            raise ApiError(
                f"listing the jobs took longer than {self._listing_deadline:g} s; gave up",
                call="GET v1/jobs",
                hint="the server is too slow or pages without end; try again later",
            ) from None

    async def page(
        self,
        filters: Mapping[str, str],
        *,
        offset: int,
        limit: int = PAGE_LIMIT,
        keep: Slim | None = None,
    ) -> Page:
        params = {**filters, "offset": str(offset), "limit": str(limit), "fields": "all"}
        if self._sort is not None:
            params["sort"] = self._sort
        query = "&".join(
            f"{key}={value.replace(' ', '+')}" for key, value in params.items() if key != "fields"
        )
        call = f"GET v1/jobs?{query}"
        try:
            return await self._page_at(self._api + "jobs", call=call, params=params, keep=keep)
        except ApiError as exc:
            if exc.status != 400 or exc.call != call or self._sort is None:
                raise
            # A server that cannot sort by id: its own order, checked as pages come in.
            _log.debug("%s: sort refused (%s); listing in the server's order", call, exc.message)
            self._sort = None
            return await self.page(filters, offset=offset, limit=limit, keep=keep)

    async def _page_at(
        self,
        url: str,
        *,
        call: str,
        params: Mapping[str, str] | None = None,
        keep: Slim | None = None,
    ) -> Page:
        response, _ = await self._request("GET", url, call=call, params=params)
        body = reply(response, call, scrub=self._scrub, ok=(200,))
        raw_jobs = body.get("jobs")
        if not isinstance(raw_jobs, list):
            raise ApiError("reply has no `jobs` list", call=call, status=response.status_code)
        jobs: list[LiveJob] = []
        keys: list[str] = []
        skipped: list[str] = []
        for n, raw in enumerate(raw_jobs):
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            keys.append(raw_id if isinstance(raw_id, str) else f"{url}#{n}:{raw_id!r}")
            try:
                kept = keep(raw) if keep is not None and isinstance(raw, dict) else raw
                job = live_job(kept, call, f"job #{n}", self._scrub)
            except ApiError as exc:  # a system job or garbage: not one jobspec could manage
                if not self._ignored(raw):
                    skipped.append(self._scrub(skipped_job(raw, exc)))
                continue
            if not job.is_deleted:
                jobs.append(job)
        meta = body.get("meta")
        if not isinstance(meta, dict):  # no paging information: this is all there is
            return Page(jobs, keys, more=False, skipped=tuple(skipped))
        total = meta.get("total_count")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            total = None
        links = meta.get("links")
        link = links.get("next") if isinstance(links, dict) else None
        href = link.get("href") if isinstance(link, dict) else None
        next_url = self._follow(str(response.request.url), href)
        has_more = meta.get("has_more")
        if isinstance(has_more, bool):
            more = has_more
        else:  # not said: judge by the total, else by the link
            more = total > len(keys) if total is not None else next_url is not None
        return Page(
            jobs,
            keys,
            more=more and bool(keys),
            total=total,
            next_url=next_url,
            skipped=tuple(skipped),
        )

    async def listing(
        self, filters: Mapping[str, str], first: Page | None = None, *, keep: Slim | None = None
    ) -> dict[str, LiveJob]:
        """Every job of a listing by id, read again while it changes under us."""
        for _ in range(LIST_ATTEMPTS):
            if first is None:
                first = await self.page(filters, offset=0, keep=keep)
            try:
                jobs, skipped = await self._remaining(first, filters, keep=keep)
            except ListChanged:
                first = None
                continue
            self.report_skipped(skipped)
            return jobs
        raise ApiError(
            f"the job list kept changing while it was read ({LIST_ATTEMPTS} attempts)",
            call="GET v1/jobs",
            hint="try again when nobody is creating or deleting jobs",
        )

    async def _remaining(
        self, first: Page, filters: Mapping[str, str], *, keep: Slim | None = None
    ) -> tuple[dict[str, LiveJob], list[str]]:
        """All jobs of a listing, given its first page, and what was skipped.

        `ListChanged` if pages disagree.
        """
        pages = [first]
        if first.more and first.total is None:  # no total: follow the links one by one
            pages += await self._follow_links(first, keep=keep)
        elif first.more and first.total is not None:
            # The first page's length is the server's page size, whatever limit we asked for.
            size = len(first.keys)
            if first.total / size > self._max_pages:
                raise ApiError(
                    f"server reports {first.total} jobs in pages of {size}: too many pages",
                    call="GET v1/jobs",
                )
            rest = await gather(
                self.page(filters, offset=offset, limit=size, keep=keep)
                for offset in range(size, first.total, size)
            )
            if any(page.total != first.total for page in rest):
                raise ListChanged
            pages += rest
        jobs: dict[str, LiveJob] = {}
        keys: set[str] = set()
        skipped: list[str] = []
        for page in pages:
            jobs.update((job.id, job) for job in page.jobs)
            keys.update(page.keys)
            skipped += page.skipped
        if first.total is not None and len(keys) != first.total:
            raise ListChanged  # a job moved between pages: some seen twice, some not at all
        return jobs, skipped

    async def _follow_links(self, page: Page, *, keep: Slim | None = None) -> list[Page]:
        """The pages after `page` by their `next` links: an error, not a hang, for a link that
        repeats, a page that brings nothing new, or more than `MAX_PAGES` pages."""
        seen_urls: set[str] = set()
        seen_keys = set(page.keys)
        pages: list[Page] = []
        while page.more:
            url = page.next_url
            call = "GET v1/jobs"
            if url is None:
                raise ApiError(
                    "reply says there is more but gives neither `total_count` nor a next link",
                    call=call,
                )
            if url in seen_urls:
                raise ApiError(
                    f"the next-page link repeats ({url.removeprefix(self._base)}): "
                    "the listing would never end",
                    call=call,
                )
            if len(pages) + 1 >= self._max_pages:
                raise ApiError(
                    f"the listing goes on past {self._max_pages} pages; stopped there", call=call
                )
            seen_urls.add(url)
            page = await self._page_at(url, call=f"GET {url.removeprefix(self._base)}", keep=keep)
            if page.keys and seen_keys.issuperset(page.keys):
                raise ApiError(
                    f"the next page ({url.removeprefix(self._base)}) repeats jobs already "
                    "listed: the listing would never end",
                    call=call,
                )
            seen_keys.update(page.keys)
            pages.append(page)
        return pages

    def _ignored(self, raw: Any) -> bool:
        """An unreadable job acknowledged in jobspec.toml (`ignore_unreadable`): by its kind,
        id or name."""
        if not self._ignore or not isinstance(raw, dict):
            return False
        named = (raw.get(key) for key in ("kind", "id", "name"))
        return any(isinstance(v, str) and v.casefold() in self._ignore for v in named)

    def report_skipped(self, skipped: Collection[str]) -> None:
        """Warn of the unreadable jobs not warned of yet: a command that lists twice warns once."""
        fresh = [item for item in dict.fromkeys(skipped) if item not in self._warned]
        self._warned.update(fresh)
        if fresh:
            shown = "; ".join(fresh[:10])
            more = f"; and {len(fresh) - 10} more" if len(fresh) > 10 else ""
            self._warn(
                f"skipped {len(fresh)} job(s) in the job list that jobspec cannot read "
                f"(system jobs?): {shown}{more} (to stop this warning, acknowledge them in "
                'jobspec.toml: ignore_unreadable = ["system"], by kind, id or name)'
            )

    def _follow(self, current: str, href: Any) -> str | None:
        """The next page's URL. A link to another origin (a proxy's inner address) is not
        followed there, which would hand our token to another host: its query is applied to
        our own address instead."""
        if not isinstance(href, str):
            return None
        url = urljoin(current, href)
        here, there = urlsplit(self._api), urlsplit(url)
        if (there.scheme, there.netloc) == (here.scheme, here.netloc):
            return url
        _log.debug("next-page link on another origin; using its query on %s", self._api)
        return urlunsplit((here.scheme, here.netloc, urlsplit(current).path, there.query, ""))


async def gather(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise that failure."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
