"""The DryvIQ API client: the only module that talks HTTP (and the only one importing httpx).

It owns everything between a `LiveJob` and the wire, so that the planner and the applier deal
only in values and in `jobspec.errors`:

- auth: a token fetched lazily, cached, refreshed before it expires (refresh-token grant when we
  have one), one re-authentication and one retry on a 401, one token fetch at a time;
- a bound on requests in flight (`Settings.concurrency`), shared by every call, token included;
  each slot of it sends on its own single-connection pool;
- retries with exponential backoff and full jitter, honouring `Retry-After`, within a deadline;
- paging: large pages in a stable order (`sort=id ASC`), fetched concurrently by offset once
  the first page tells the total, else by following `next` links, with a bound on pages and
  an error for links that repeat or never end;
- a list is read defensively: a job marked `status: deleted` is gone, and a job jobspec
  cannot read (an odd id, no name: a system job) is skipped with one warning per listing;
- checking every reply at the boundary, so that server garbage becomes an `ApiError` naming the
  call (`GET v1/jobs/…: server answered text/html, not JSON (status 200)`), never a traceback.

What callers may see, each message starting with the call (`METHOD v1/path`):

    ApiError            an error status, a reply that is not the API, or retries exhausted
    ├── AuthError       credentials refused, or a 401 that survived re-authentication
    ├── NotFoundError   404 (or 406, as the vendor client reads it) on a call that needs the
    │                   job to exist (patch, clone, control)
    └── OutcomeUnknown  a non-idempotent call (create, clone, start) that may have reached the
                        server but whose reply was lost; it is never sent again

When a call may be repeated. A request is retried only when repeating it cannot do harm:
- Idempotent calls (GET, PATCH with a body, DELETE, pause/resume/cancel) are retried on 429,
  502, 503, 504, connection errors and timeouts. A DELETE that meets 404 after an attempt whose
  outcome was unknown counts as done: the lost attempt deleted the job.
- Non-idempotent calls (POST create/clone, `start`) are retried only when the request provably
  was not processed: a connect error or connect timeout (nothing was sent) or 429/503. We assume
  that DryvIQ, its proxies and the emulator answer 429 and 503 before doing any work (a rate
  limit or an unavailable service refuses the request at the door). Anything else after the
  request may have been sent (read/write timeout, a dropped connection, 500, 502, 504) raises
  `OutcomeUnknown`; the applier then looks for the job instead of creating it twice.
Secrets (passwords, client secrets, tokens) never appear in messages, reprs or logs: token
calls are named only `POST connect/token`, and their bodies and headers are never quoted.
What the server says is quoted only after the client's `Scrubber` (which learns each token as
it is issued) has masked every known secret in any encoding, and only shortened: a hostile
server may echo the password form or the `Authorization` header back.

Every wait ends: a reply must arrive whole (headers and body) within `Settings.timeout`, since
httpx's read timeout restarts with every chunk; a whole listing within `listing_deadline`.
Environment proxies are used only for an https server that is not loopback.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import json
import logging
import math
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from jobspec import __version__
from jobspec.errors import ApiError, AuthError, NotFoundError, OutcomeUnknown
from jobspec.model import JOB_ID_RE, LiveJob
from jobspec.netaddr import is_loopback
from jobspec.scrub import Scrubber, clean_unicode, shorten
from jobspec.settings import ClientLogin, Credentials, PasswordLogin, Settings, StaticToken

T = TypeVar("T")

PAGE_LIMIT = 1000  # the largest page the API accepts
CONNECT_TIMEOUT = 10.0
LISTING_DEADLINE = 600.0  # seconds for a whole job listing, every page and retry included
MAX_PAGES = 10_000  # a bound on the pages of one listing, with or without a total_count
LIST_SORT = "id ASC"  # a unique key: offset pages neither repeat nor skip a job between reads
NOT_FOUND_STATUSES = frozenset({404, 406})  # the vendor client reads 406 as "no such thing"
LIST_ATTEMPTS = 3  # re-reads of a job list that changed while it was being paged
PASSWORD_SCOPE = "profile roles offline_access"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Answers given before any work is done (see the module docstring): safe to repeat any call.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
MAX_DETAILS = 5  # error descriptions quoted from one reply
SNIPPET_WINDOW = 4096  # bytes of a non-JSON reply scrubbed before its start is quoted

ControlAction = Literal["start", "pause", "resume", "cancel"]
Slim = Callable[[dict[str, Any]], dict[str, Any]]  # what a listing keeps of each raw job

_log = logging.getLogger(__name__)


class Repeat(enum.Enum):
    """May a request be sent again when its outcome is unknown?"""

    IDEMPOTENT = "idempotent"  # the same request twice has the effect of once
    ONCE = "once"  # a second copy could create a second job or start a second run


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long and how often a call is retried. Tests shrink the backoff, never sleep long."""

    max_attempts: int = 6
    deadline: float = 120.0  # seconds per call, attempts and waits included
    backoff_base: float = 0.25
    backoff_cap: float = 8.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform between 0 and the capped exponential step."""
        return rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2.0**retry))


@dataclass
class _Token:
    value: str
    refresh_token: str | None = None
    refresh_at: float | None = None  # on the client's clock; None: renew only on a 401

    def due(self, now: float) -> bool:
        return self.refresh_at is not None and now >= self.refresh_at


@dataclass(frozen=True)
class _Page:
    jobs: list[LiveJob]  # the readable, live jobs of the page
    keys: list[str]  # one per item the page held, deleted and unreadable ones included
    more: bool  # the server says the listing goes on
    total: int | None = None  # `meta.total_count`, when given
    next_url: str | None = None  # `meta.links.next.href`, resolved
    skipped: tuple[str, ...] = ()  # why each unreadable item was skipped


class _ListChanged(Exception):
    """Pages of one listing disagree: jobs were added or removed while we read."""


class DryvIQClient:
    """An async client for the DryvIQ jobs API. Use it as `async with DryvIQClient(...)`.

    `transport` lets tests run the emulator in process (`httpx.ASGITransport`) or fake the
    network (`httpx.MockTransport`). `clock`, `sleep` and `rng` are there so tests control time.
    `warn` hears what a user should know but that does not stop the work (jobs skipped in a
    list); the CLI prints it, the default logs it. `max_pages` bounds one listing.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        warn: Callable[[str], None] | None = None,
        max_pages: int = MAX_PAGES,
        scrubber: Scrubber | None = None,
        listing_deadline: float = LISTING_DEADLINE,
    ) -> None:
        self._warn = warn or _log.warning
        self._max_pages = max_pages
        self._sort: str | None = LIST_SORT
        self._credentials: Credentials = settings.credentials
        self._scrub = scrubber or Scrubber()
        """Every secret of this client (credentials, then each token issued) is added here."""
        self._scrub.add(*_secrets_of(settings.credentials))
        self._timeout = settings.timeout
        self._listing_deadline = listing_deadline
        self._concurrency = settings.concurrency
        self._base = settings.server if settings.server.endswith("/") else settings.server + "/"
        self._api = self._base + "v1/"
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._token_lock = asyncio.Lock()
        self._token: _Token | None = None
        if isinstance(self._credentials, StaticToken):
            self._token = _Token(self._credentials.token.get_secret_value())
        # One single-connection pool per request slot: httpcore's pool scans its connections
        # (quadratically) on every request and reply, which at 32 connections in one pool took
        # about 40% of an apply's CPU. A slot owns its pool, so a pool never queues. An injected
        # transport does its own pooling: one client for it.
        timeout = httpx.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout))
        mounts = _proxy_mounts(self._base)
        if transport is not None:
            self._pools = [
                _http_client(transport=transport, timeout=timeout, connections=None, mounts=mounts)
            ]
        else:
            tls = httpx.create_ssl_context(verify=True, trust_env=True)  # loaded once, shared
            self._pools = [
                _http_client(
                    transport=None, timeout=timeout, connections=1, verify=tls, mounts=mounts
                )
                for _ in range(settings.concurrency)
            ]
        self._http = self._pools[0]  # builds requests; every pool is configured alike
        self._free_slots = list(range(settings.concurrency))  # taken under `_slots`, LIFO
        self.request_count = 0
        """Requests sent so far, every attempt and token call included."""
        self.server_time: float | None = None
        """The latest `Date` the server sent: its own clock, for recognising a lost clone."""

    def __repr__(self) -> str:
        return f"DryvIQClient({self._base!r}, {self._credentials.describe()})"

    async def __aenter__(self) -> DryvIQClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    # --- read side -------------------------------------------------------------------------

    @property
    def server(self) -> str:
        """The server root, as configured (with its trailing slash)."""
        return self._base

    async def get_job(self, job_id: str) -> LiveJob | None:
        """The job, or None if it does not exist (or was deleted)."""
        call = f"GET v1/jobs/{job_id}"
        response, _ = await self._request(
            "GET", self._job_url(job_id), call=call, params={"fields": "all"}
        )
        if response.status_code in NOT_FOUND_STATUSES:
            return None
        job = _job_reply(response, call, scrub=self._scrub, ok=(200,))
        return None if job.is_deleted else job

    async def list_jobs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        q: str | None = None,
        keep: Slim | None = None,
    ) -> list[LiveJob]:
        """Every job matching the filters, each exactly once, in the server's order.

        `keep` chooses what of each listed job to keep (its id and name at least), page by
        page as they arrive, so that a large listing never holds every whole job at once.
        """
        filters = {k: v for k, v in (("kind", kind), ("status", status), ("q", q)) if v}
        return list((await self._bounded(self._listing(filters, keep=keep))).values())

    async def get_jobs(self, ids: Collection[str]) -> dict[str, LiveJob]:
        """The requested jobs that exist, by id, read with as few requests as possible.

        Up to `concurrency` ids: one GET each, all at once. More: the first page of the list
        tells the total; the rest is read either as pages or as single GETs for the ids still
        missing, whichever takes fewer requests. Ids that are not job ids are simply absent.
        """
        wanted = {job_id for job_id in ids if JOB_ID_RE.match(job_id)}
        if len(wanted) <= self._concurrency:
            return await self._get_each(wanted)
        first = await self._page({}, offset=0)
        found = {job.id: job for job in first.jobs if job.id in wanted}
        missing = wanted - found.keys()
        if not missing or not first.more:
            self._report_skipped(first.skipped)
            return found
        if first.total is not None:
            pages_left = math.ceil((first.total - len(first.keys)) / len(first.keys))
            if len(missing) < pages_left:
                self._report_skipped(first.skipped)
                return found | await self._get_each(missing)
        every = await self._bounded(self._listing({}, first))
        return {job_id: every[job_id] for job_id in wanted if job_id in every}

    # --- write side ------------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any]) -> LiveJob:
        """Create a job. Never re-sent once it may have reached the server (`OutcomeUnknown`)."""
        call = "POST v1/jobs"
        response, _ = await self._request(
            "POST", self._api + "jobs", call=call, json=dict(body), repeat=Repeat.ONCE
        )
        return _job_reply(response, call, scrub=self._scrub, ok=(200, 201))

    async def clone(self, source_id: str, body: Mapping[str, Any]) -> LiveJob:
        """Clone `source_id` with `body` deep-merged over it; returns the new job.

        Never re-sent once it may have reached the server: raises `OutcomeUnknown` instead.
        """
        call = f"POST v1/jobs/{source_id}/clone"
        response, _ = await self._request(
            "POST",
            self._job_url(source_id) + "/clone",
            call=call,
            json=dict(body),
            repeat=Repeat.ONCE,
        )
        status = response.status_code
        if not 200 <= status < 300:
            raise _status_error(response, call, self._scrub)
        try:
            return _job_reply(response, call, scrub=self._scrub, ok=(status,))
        except ApiError as exc:
            # A 2xx means the server did the work: a reply we cannot read says nothing about
            # whether the clone exists, so it is looked for by name, as for a lost reply.
            raise _outcome_unknown(call, f"status {status}, unreadable reply") from exc

    async def patch(self, job_id: str, body: Mapping[str, Any]) -> LiveJob:
        """Deep-merge `body` into the job; returns the job as it is now."""
        call = f"PATCH v1/jobs/{job_id}"
        response, _ = await self._request(
            "PATCH", self._job_url(job_id), call=call, json=dict(body)
        )
        return _job_reply(response, call, scrub=self._scrub, ok=(200,))

    async def delete(self, job_id: str) -> bool:
        """Delete the job: True if this call deleted it, False if it was already gone (404)."""
        call = f"DELETE v1/jobs/{job_id}"
        response, uncertain = await self._request("DELETE", self._job_url(job_id), call=call)
        if response.status_code in NOT_FOUND_STATUSES:
            return uncertain  # after a lost attempt, 404 means that attempt did the deleting
        if response.status_code not in (200, 202, 204):
            raise _status_error(response, call, self._scrub)
        return True

    async def control(self, job_id: str, action: ControlAction) -> LiveJob:
        """Start, pause, resume or cancel a run; returns the job.

        `start` is not repeated after an unknown outcome (it could start a second run);
        the others set a state and are safe to repeat.
        """
        if action not in ("start", "pause", "resume", "cancel"):
            raise ValueError(f"unknown job action {action!r}")
        call = f"PATCH v1/jobs/{job_id}?{action}=1"
        repeat = Repeat.ONCE if action == "start" else Repeat.IDEMPOTENT
        response, _ = await self._request(
            "PATCH", self._job_url(job_id), call=call, params={action: "1"}, repeat=repeat
        )
        return _job_reply(response, call, scrub=self._scrub, ok=(200,))

    async def _bounded(self, listing: Awaitable[T]) -> T:
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

    # --- paging ----------------------------------------------------------------------------

    async def _get_each(self, ids: Iterable[str]) -> dict[str, LiveJob]:
        jobs = await _gather(self.get_job(job_id) for job_id in ids)
        return {job.id: job for job in jobs if job is not None}

    async def _page(
        self,
        filters: Mapping[str, str],
        *,
        offset: int,
        limit: int = PAGE_LIMIT,
        keep: Slim | None = None,
    ) -> _Page:
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
            return await self._page(filters, offset=offset, limit=limit, keep=keep)

    async def _page_at(
        self,
        url: str,
        *,
        call: str,
        params: Mapping[str, str] | None = None,
        keep: Slim | None = None,
    ) -> _Page:
        response, _ = await self._request("GET", url, call=call, params=params)
        body = _reply(response, call, scrub=self._scrub, ok=(200,))
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
                job = _live_job(kept, call, f"job #{n}", self._scrub)
            except ApiError as exc:  # a system job or garbage: not one jobspec could manage
                skipped.append(self._scrub(_skipped_job(raw, exc)))
                continue
            if not job.is_deleted:
                jobs.append(job)
        meta = body.get("meta")
        if not isinstance(meta, dict):  # no paging information: this is all there is
            return _Page(jobs, keys, more=False, skipped=tuple(skipped))
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
        return _Page(
            jobs,
            keys,
            more=more and bool(keys),
            total=total,
            next_url=next_url,
            skipped=tuple(skipped),
        )

    async def _listing(
        self, filters: Mapping[str, str], first: _Page | None = None, *, keep: Slim | None = None
    ) -> dict[str, LiveJob]:
        """Every job of a listing by id, read again while it changes under us."""
        for _ in range(LIST_ATTEMPTS):
            if first is None:
                first = await self._page(filters, offset=0, keep=keep)
            try:
                jobs, skipped = await self._remaining(first, filters, keep=keep)
            except _ListChanged:
                first = None
                continue
            self._report_skipped(skipped)
            return jobs
        raise ApiError(
            f"the job list kept changing while it was read ({LIST_ATTEMPTS} attempts)",
            call="GET v1/jobs",
            hint="try again when nobody is creating or deleting jobs",
        )

    async def _remaining(
        self, first: _Page, filters: Mapping[str, str], *, keep: Slim | None = None
    ) -> tuple[dict[str, LiveJob], list[str]]:
        """All jobs of a listing, given its first page, and what was skipped.

        `_ListChanged` if pages disagree.
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
            rest = await _gather(
                self._page(filters, offset=offset, limit=size, keep=keep)
                for offset in range(size, first.total, size)
            )
            if any(page.total != first.total for page in rest):
                raise _ListChanged
            pages += rest
        jobs: dict[str, LiveJob] = {}
        keys: set[str] = set()
        skipped: list[str] = []
        for page in pages:
            jobs.update((job.id, job) for job in page.jobs)
            keys.update(page.keys)
            skipped += page.skipped
        if first.total is not None and len(keys) != first.total:
            raise _ListChanged  # a job moved between pages: some seen twice, some not at all
        return jobs, skipped

    async def _follow_links(self, page: _Page, *, keep: Slim | None = None) -> list[_Page]:
        """The pages after `page` by their `next` links: an error, not a hang, for a link that
        repeats, a page that brings nothing new, or more than `MAX_PAGES` pages."""
        seen_urls: set[str] = set()
        seen_keys = set(page.keys)
        pages: list[_Page] = []
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

    def _report_skipped(self, skipped: Collection[str]) -> None:
        if skipped:
            shown = "; ".join(list(skipped)[:10])
            more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
            self._warn(
                f"skipped {len(skipped)} job(s) in the job list that jobspec cannot read "
                f"(system jobs?): {shown}{more}"
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

    def _job_url(self, job_id: str) -> str:
        return f"{self._api}jobs/{quote(job_id, safe='')}"

    # --- sending ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        *,
        call: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        repeat: Repeat = Repeat.IDEMPOTENT,
        authorize: bool = True,
    ) -> tuple[httpx.Response, bool]:
        """Send one call with auth, the concurrency bound and retries.

        Returns the final response (any status but a retried or refused one) and whether an
        earlier attempt's outcome was unknown.
        """
        policy = self._retry
        started = self._clock()
        attempt = 0
        reauthenticated = False
        uncertain = False
        while True:
            attempt += 1
            headers: dict[str, str] = {}
            token = ""
            if authorize:
                token = await self._access_token()
                headers["Authorization"] = f"Bearer {token}"
            retry_after: float | None = None
            cause: Exception | None = None
            status: int | None = None
            try:
                response = await self._send(method, url, params, json, form, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # retrying will not fix it
                    raise ApiError(
                        f"the server's TLS certificate is not trusted: {exc}",
                        call=call,
                        hint="for a private CA, point SSL_CERT_FILE at its certificate bundle",
                    ) from exc
                cause, last = exc, f"could not connect: {_describe(exc, self._scrub)}"
            except httpx.UnsupportedProtocol as exc:
                raise ApiError(f"cannot send: {exc}", call=call) from exc
            except httpx.TransportError as exc:  # sent, maybe processed, reply lost
                if repeat is Repeat.ONCE:
                    raise _outcome_unknown(call, _describe(exc, self._scrub)) from exc
                cause, last, uncertain = exc, _describe(exc, self._scrub), True
            except httpx.HTTPError as exc:
                if repeat is Repeat.ONCE:
                    raise _outcome_unknown(call, _describe(exc, self._scrub)) from exc
                raise ApiError(
                    f"unreadable reply: {_describe(exc, self._scrub)}", call=call
                ) from exc
            else:
                status = response.status_code
                if status == 401 and authorize:
                    if isinstance(self._credentials, StaticToken):
                        raise _static_token_refused(response, call, self._credentials, self._scrub)
                    if reauthenticated:
                        raise AuthError(
                            "the server refused a fresh token: "
                            + _error_text(response, self._scrub),
                            call=call,
                            status=401,
                            hint="the account may lack the rights for this call",
                        )
                    reauthenticated = True
                    attempt -= 1  # a new token is not a retry of the call
                    await self._reauthenticate(stale=token)
                    continue
                if repeat is Repeat.ONCE and status >= 500 and status not in NOT_PROCESSED_STATUSES:
                    # A server error after the request arrived: it may have done the work.
                    raise _outcome_unknown(
                        call, f"server answered {_error_text(response, self._scrub)}"
                    )
                if status not in RETRY_STATUSES:
                    return response, uncertain
                uncertain = uncertain or status not in NOT_PROCESSED_STATUSES
                last = _error_text(response, self._scrub)
                retry_after = _retry_after(response.headers.get("Retry-After"))

            wait = max(retry_after or 0.0, policy.backoff(attempt - 1, self._rng))
            elapsed = self._clock() - started
            if attempt >= policy.max_attempts or elapsed + wait > policy.deadline:
                asked = f"; it asked to wait {retry_after:g} s" if retry_after else ""
                raise ApiError(
                    f"gave up after {attempt} attempts in {elapsed:.1f} s; "
                    f"last answer: {last}{asked}",
                    call=call,
                    status=status,
                    hint=f"is the server at {self._base} up and reachable?"
                    if status is None
                    else "the server is overloaded or unavailable; try again later",
                ) from cause
            _log.debug("%s: %s; retry %d in %.2f s", call, last, attempt, wait)
            await self._sleep(wait)

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        json: Any,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        request = self._http.build_request(
            method, url, params=params, json=json, data=form, headers=headers
        )
        async with self._slots:
            slot = self._free_slots.pop()
            try:
                self.request_count += 1
                # One deadline for headers and body: httpx's read timeout restarts with every
                # chunk, so a server trickling a byte a second would never time out.
                async with asyncio.timeout(self._timeout):
                    response = await self._pools[slot % len(self._pools)].send(request)
            except TimeoutError:
                raise httpx.ReadTimeout(
                    f"no complete reply within {self._timeout:g} s (headers and body)",
                    request=request,
                ) from None
            finally:
                self._free_slots.append(slot)
        self._note_server_time(response.headers.get("Date"))
        return response

    def _note_server_time(self, header: str | None) -> None:
        if not header:
            return
        try:
            seen = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError):
            return
        if self.server_time is None or seen > self.server_time:
            self.server_time = seen

    # --- auth ------------------------------------------------------------------------------

    async def _access_token(self) -> str:
        token = self._token
        if token is not None and not token.due(self._clock()):
            return token.value
        async with self._token_lock:  # one fetch at a time; the others wait and reuse it
            token = self._token
            if token is None or token.due(self._clock()):
                token = self._token = await self._renew(token)
            return token.value

    async def _reauthenticate(self, *, stale: str) -> None:
        """After a 401: log in again, unless another task already replaced the stale token."""
        async with self._token_lock:
            if self._token is None or self._token.value == stale:
                self._token = await self._login()

    async def _renew(self, token: _Token | None) -> _Token:
        if token is not None and token.refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
            try:
                return await self._token_call(form)
            except AuthError:
                _log.debug("refresh token refused; logging in again")
        return await self._login()

    async def _login(self) -> _Token:
        creds = self._credentials
        if isinstance(creds, PasswordLogin):
            return await self._token_call(
                {
                    "grant_type": "password",
                    "username": creds.username,
                    "password": creds.password.get_secret_value(),
                    "scope": PASSWORD_SCOPE,
                }
            )
        if isinstance(creds, ClientLogin):
            return await self._token_call(
                {
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret.get_secret_value(),
                }
            )
        # A static token has nothing to log in with; reaching here means it was refused.
        raise AuthError("the token was refused", call="POST connect/token", hint=_token_hint(creds))

    async def _token_call(self, form: Mapping[str, str]) -> _Token:
        call = "POST connect/token"
        sent_at = self._clock()
        response, _ = await self._request(
            "POST", self._base + "connect/token", call=call, form=form, authorize=False
        )
        if response.status_code == 404:
            raise ApiError(
                "no token endpoint here (404)",
                call=call,
                status=404,
                hint=f"is {self._base} the root of a DryvIQ server? (JOBSPEC_SERVER or --server)",
            )
        if response.status_code in (400, 401, 403):
            refused = _error_text(response, self._scrub)
            what = (
                "the refresh token"
                if form["grant_type"] == "refresh_token"
                else self._credentials.describe()
            )
            raise AuthError(
                f"the server refused {what}: {refused}",
                call=call,
                status=response.status_code,
                hint=f"check {' and '.join(self._credentials.env_names)}",
            )
        body = _reply(response, call, scrub=self._scrub, ok=(200,))
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise ApiError("reply has no `access_token`", call=call, status=response.status_code)
        refresh = body.get("refresh_token")
        self._scrub.add(value, refresh if isinstance(refresh, str) else None)
        expires_in = body.get("expires_in")
        refresh_at = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            refresh_at = sent_at + expires_in - min(60.0, 0.1 * expires_in)
        return _Token(value, refresh if isinstance(refresh, str) and refresh else None, refresh_at)


def _secrets_of(credentials: Credentials) -> list[str]:
    if isinstance(credentials, PasswordLogin):
        return [credentials.password.get_secret_value()]
    if isinstance(credentials, ClientLogin):
        return [credentials.client_secret.get_secret_value()]
    return [credentials.token.get_secret_value()]


def _proxy_mounts(base: str) -> dict[str, httpx.AsyncBaseTransport | None] | None:
    """Where environment proxies (`HTTPS_PROXY`, `ALL_PROXY`, …) may be used: https only.

    None lets httpx honour them (TLS runs end to end through the proxy's tunnel). For plain
    http every proxy is bypassed: a loopback server gets the password in clear only because
    it never leaves the machine, and a proxy would take it off the machine.
    """
    parts = urlsplit(base)
    if parts.scheme == "https" and not is_loopback(parts.hostname or ""):
        return None
    return {"all://": None, "http://": None, "https://": None}


def _http_client(
    *,
    transport: httpx.AsyncBaseTransport | None,
    timeout: httpx.Timeout,
    connections: int | None,
    verify: ssl.SSLContext | bool = True,
    mounts: dict[str, httpx.AsyncBaseTransport | None] | None = None,
) -> httpx.AsyncClient:
    """One of the client's connection pools (`connections` None: the transport's own)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        transport=transport,
        mounts=mounts,
        timeout=timeout,
        limits=limits,
        verify=verify,
        headers={"Accept": "application/json", "User-Agent": f"jobspec/{__version__}"},
        follow_redirects=False,
    )


# --- replies ---------------------------------------------------------------------------------


def _reply(
    response: httpx.Response, call: str, *, scrub: Scrubber, ok: tuple[int, ...]
) -> dict[str, Any]:
    """The JSON object of a successful reply; `ApiError` for an error status or garbage.

    Invalid UTF-8 and lone surrogates (`"\\ud800"`) are replaced, so that nothing further on
    meets a string it cannot hash, write or print.
    """
    status = response.status_code
    if status not in ok:
        raise _status_error(response, call, scrub)
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            f"server answered {media}, not JSON (status {status}){_snippet(response, scrub)}",
            call=call,
            status=status,
        )
    try:
        body = _parse_json(response)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or nested too deep
        raise ApiError(
            f"server answered invalid JSON (status {status}, {len(response.content)} bytes): "
            f"{shorten(scrub(str(exc)))}",
            call=call,
            status=status,
        ) from exc
    if not isinstance(body, dict):
        raise ApiError(
            f"server answered a JSON {type(body).__name__}, not an object", call=call, status=status
        )
    return body


def _job_reply(
    response: httpx.Response, call: str, *, scrub: Scrubber, ok: tuple[int, ...]
) -> LiveJob:
    body = _reply(response, call, scrub=scrub, ok=ok)
    raw = body.get("job")
    if raw is None and "id" in body and "name" in body:
        raw = body  # tolerated variant: a bare job without the envelope
    if raw is None:
        raise ApiError("reply has no `job` object", call=call, status=response.status_code)
    return _live_job(raw, call, "the job", scrub)


def _live_job(raw: Any, call: str, what: str, scrub: Scrubber) -> LiveJob:
    """A LiveJob after a cheap check of the fields everything else relies on."""
    if not isinstance(raw, dict):
        raise ApiError(f"{what} in the reply is not a JSON object", call=call)
    job_id = raw.get("id")
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        shown = repr(shorten(scrub(job_id), 50) if isinstance(job_id, str) else job_id)[:60]
        raise ApiError(f"{what} in the reply has no valid `id`: {shown}", call=call)
    if not isinstance(raw.get("name"), str):
        raise ApiError(f"{what} in the reply ({job_id}) has no `name`", call=call)
    try:
        return LiveJob.from_raw(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ApiError(
            f"{what} in the reply ({job_id}) is malformed: {problems}", call=call
        ) from exc


def _skipped_job(raw: Any, problem: ApiError) -> str:
    """One skipped list item, named by what it has: its id and name, else the problem."""
    if isinstance(raw, dict):
        raw_id, name = raw.get("id"), raw.get("name")
        if raw_id is not None or name is not None:
            return f"id {raw_id!r:.50}, name {name!r:.50}"
    return problem.message.removeprefix(f"{problem.call}: ")


def _status_error(response: httpx.Response, call: str, scrub: Scrubber) -> ApiError:
    status = response.status_code
    text = _error_text(response, scrub)
    if status in NOT_FOUND_STATUSES:
        return NotFoundError(f"not found ({text})", call=call, status=status)
    if status in (401, 403):
        return AuthError(
            f"not allowed: {text}",
            call=call,
            status=status,
            hint="the account may lack the rights for this call",
        )
    if 300 <= status < 400:
        location = shorten(scrub(response.headers.get("location", "?")))
        return ApiError(
            f"server redirected to {location}",
            call=call,
            status=status,
            hint="use the address it redirects to as the server (JOBSPEC_SERVER or --server)",
        )
    return ApiError(f"server answered {text}", call=call, status=status)


def _error_text(response: httpx.Response, scrub: Scrubber) -> str:
    """`STATUS Reason: description; …`, from `errors[].description` or OAuth's fields.

    Each piece is scrubbed whole before it is cut, so that no part of a secret survives a cut.
    """
    head = f"{response.status_code} {shorten(scrub(response.reason_phrase), 80)}".strip()
    try:
        body = _parse_json(response)
    except (ValueError, RecursionError):
        return head
    details: list[str] = []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            for error in errors:
                if isinstance(error, dict):
                    text = error.get("description") or error.get("message")
                    if isinstance(text, str):
                        details.append(text)
                elif isinstance(error, str):
                    details.append(error)
        for key in ("error_description", "error", "message"):
            if not details and isinstance(body.get(key), str):
                details.append(body[key])
    shown = [shorten(scrub(detail)) for detail in details[:MAX_DETAILS]]
    if len(details) > MAX_DETAILS:
        shown.append(f"and {len(details) - MAX_DETAILS} more")
    return f"{head}: {'; '.join(shown)}" if shown else head


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _parse_json(response: httpx.Response) -> Any:
    """The reply's JSON; bytes that are not UTF-8 become U+FFFD instead of an error, and lone
    surrogates (`"\\ud800"`) become U+FFFD too.

    Only a `\\uD800`-`\\uDFFF` escape can put a surrogate into parsed JSON (decoding with
    "replace" leaves none), so the walk over every value runs only for a reply holding one.
    """
    text = response.content.decode("utf-8", "replace").removeprefix("\ufeff")
    value = json.loads(text)
    return clean_unicode(value) if _SURROGATE_ESCAPE.search(text) else value


def _snippet(response: httpx.Response, scrub: Scrubber) -> str:
    head = response.content[:SNIPPET_WINDOW].decode("utf-8", "replace")
    text = " ".join(scrub(head).split())
    return f": {text[:80]!r}" if text else ""


def _describe(exc: Exception, scrub: Scrubber) -> str:
    text = shorten(scrub(str(exc)))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _outcome_unknown(call: str, what: str) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"outcome unknown ({what}): the request may have been carried out; it was not sent again",
        call=call,
        hint="look for the job it would have made before trying again "
        "(`jobspec plan` finds and adopts it)",
    )


def _static_token_refused(
    response: httpx.Response, call: str, creds: StaticToken, scrub: Scrubber
) -> AuthError:
    return AuthError(
        f"the server refused the token: {_error_text(response, scrub)}",
        call=call,
        status=401,
        hint=_token_hint(creds),
    )


def _token_hint(creds: StaticToken) -> str:
    return (
        f"the token in {creds.env_names[0]} may have expired: set a fresh one, or set "
        "JOBSPEC_USERNAME/JOBSPEC_PASSWORD so that jobspec can renew its own"
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


async def _gather(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise that failure."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
