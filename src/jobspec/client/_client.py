"""`DryvIQClient`: the calls of the jobs API, and the one loop that sends each of them.

Every call goes through `_request`: a token (from `TokenKeeper`), one re-authentication on a
401, the concurrency bound, and what `_retry.decide` says after each attempt.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx

from jobspec.client._auth import TokenKeeper
from jobspec.client._limiter import Limiter
from jobspec.client._pace import REFUSALS
from jobspec.client._paging import (
    LISTING_DEADLINE,
    MAX_PAGES,
    Lister,
    Slim,
    gather,
)
from jobspec.client._replies import (
    NOT_FOUND_STATUSES,
    connections_reply,
    describe,
    error_text,
    job_reply,
    outcome_unknown,
    reply,
    status_error,
)
from jobspec.client._retry import (
    RETRY_STATUSES,
    Action,
    Repeat,
    RetryPolicy,
    decide,
    http_date,
    may_be_done,
    retry_after,
)
from jobspec.client._transport import Builder, pools, sender
from jobspec.endpoints import ServerConnection
from jobspec.errors import ApiError, AuthError
from jobspec.model import JOB_ID_RE, LiveJob
from jobspec.scrub import Scrubber, shorten
from jobspec.settings import Settings

CONNECTION_PAGE = 1000
MAX_CONNECTION_PAGES = 100
"""Connections are few (tens); the bound only stops a server that pages forever."""
ControlAction = Literal["start", "pause", "resume", "cancel"]

_log = logging.getLogger("jobspec.client")


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
        self._scrub = scrubber or Scrubber()
        """Every secret of this client (credentials, then each token issued) is added here."""
        self._timeout = settings.timeout
        self._concurrency = settings.concurrency
        self._base = settings.server if settings.server.endswith("/") else settings.server + "/"
        self._api = self._base + "v1/"
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = Limiter(settings.concurrency, clock=clock, sleep=sleep)
        self._auth = TokenKeeper(
            settings.credentials,
            base=self._base,
            scrub=self._scrub,
            clock=clock,
            request=self._request,
        )
        self._lister = Lister(
            request=self._request,
            base=self._base,
            scrub=self._scrub,
            warn=warn or _log.warning,
            max_pages=max_pages,
            listing_deadline=listing_deadline,
            ignore=settings.ignore_unreadable,
        )
        self._pools = pools(
            self._base,
            timeout=settings.timeout,
            concurrency=settings.concurrency,
            keepalive=settings.keepalive,
            transport=transport,
            clock=clock,
        )
        self._build = Builder(self._pools[0])  # every pool is configured alike
        self._senders = [sender(pool) for pool in self._pools]
        self._free_slots = list(range(settings.concurrency))  # taken under `_limiter`, LIFO
        self._pause = min(self._retry.backoff_cap, 4 * self._retry.backoff_base)
        """How long every slot pauses after a refusal that names no Retry-After."""
        self.request_count = 0
        """Requests sent so far, every attempt and token call included."""
        self.server_time: float | None = None
        self._last_date = ""  # the last `Date` header read, so that each is parsed once
        self._warn = warn or _log.warning
        self._told: set[str] = set()
        """The latest `Date` the server sent: its own clock, for recognising a lost clone."""

    def __repr__(self) -> str:
        return f"DryvIQClient({self._base!r}, {self._auth.credentials.describe()})"

    async def __aenter__(self) -> DryvIQClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    def throttling(self) -> str | None:
        """What to tell a person when the server refused calls as too many, else None."""
        return self._limiter.note()

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
        job = job_reply(response, call, scrub=self._scrub, ok=(200,))
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
        return list((await self._lister.bounded(self._lister.listing(filters, keep=keep))).values())

    async def get_jobs(self, ids: Collection[str]) -> dict[str, LiveJob]:
        """The requested jobs that exist, by id, read with as few requests as possible.

        Up to `concurrency` ids: one GET each, all at once. More: the first page of the list
        tells the total; the rest is read either as pages or as single GETs for the ids still
        missing, whichever takes fewer requests. Ids that are not job ids are simply absent.
        """
        wanted = {job_id for job_id in ids if JOB_ID_RE.match(job_id)}
        if len(wanted) <= self._concurrency:
            return await self._get_each(wanted)
        first = await self._lister.page({}, offset=0)
        found = {job.id: job for job in first.jobs if job.id in wanted}
        missing = wanted - found.keys()
        if not missing or not first.more:
            self._lister.report_skipped(first.skipped)
            return found
        if first.total is not None:
            pages_left = math.ceil((first.total - len(first.keys)) / len(first.keys))
            if len(missing) < pages_left:
                self._lister.report_skipped(first.skipped)
                return found | await self._get_each(missing)
        every = await self._lister.bounded(self._lister.listing({}, first))
        return {job_id: every[job_id] for job_id in wanted if job_id in every}

    async def list_connections(self) -> list[ServerConnection] | None:
        """Every connection (`GET v1/connections`, paged); None when the server has no such
        route (404): then a plan cannot check connection ids, and says so for names."""
        call = "GET v1/connections"
        found: dict[str, ServerConnection] = {}
        offset = 0
        for _ in range(MAX_CONNECTION_PAGES):
            params = {"offset": str(offset), "limit": str(CONNECTION_PAGE)}
            response, _ = await self._request(
                "GET", self._api + "connections", call=call, params=params
            )
            if response.status_code in NOT_FOUND_STATUSES:
                return None
            page = connections_reply(response, call, scrub=self._scrub)
            fresh = [one for one in page.connections if one.id not in found]
            found.update((one.id, one) for one in page.connections)
            offset += page.held
            if not page.more or not fresh:
                break
        return list(found.values())

    # --- write side ------------------------------------------------------------------------

    async def create(self, body: Mapping[str, Any]) -> LiveJob:
        """Create a job. Never re-sent once it may have reached the server (`OutcomeUnknown`)."""
        call = "POST v1/jobs"
        response, _ = await self._request(
            "POST", self._api + "jobs", call=call, json=dict(body), repeat=Repeat.ONCE
        )
        return job_reply(response, call, scrub=self._scrub, ok=(200, 201))

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
            raise status_error(response, call, self._scrub)
        try:
            return job_reply(response, call, scrub=self._scrub, ok=(status,))
        except ApiError as exc:
            # A 2xx means the server did the work: a reply we cannot read says nothing about
            # whether the clone exists, so it is looked for by name, as for a lost reply.
            raise outcome_unknown(call, f"status {status}, unreadable reply") from exc

    async def patch(self, job_id: str, body: Mapping[str, Any]) -> LiveJob:
        """Deep-merge `body` into the job; returns the job as it is now."""
        call = f"PATCH v1/jobs/{job_id}"
        response, _ = await self._request(
            "PATCH", self._job_url(job_id), call=call, json=dict(body)
        )
        return job_reply(response, call, scrub=self._scrub, ok=(200,))

    async def delete(self, job_id: str) -> bool:
        """Delete the job: True if this call deleted it, False if it was already gone (404)."""
        call = f"DELETE v1/jobs/{job_id}"
        response, uncertain = await self._request("DELETE", self._job_url(job_id), call=call)
        if response.status_code in NOT_FOUND_STATUSES:
            return uncertain  # after a lost attempt, 404 means that attempt did the deleting
        if response.status_code not in (200, 202, 204):
            raise status_error(response, call, self._scrub)
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
        return job_reply(response, call, scrub=self._scrub, ok=(200,))

    async def latest_execution(self, job_id: str) -> dict[str, Any] | None:
        """The job's newest run (`GET v1/jobs/history?job=ID&execution=last`), else the one
        the job itself shows (`execution`, or `previous_execution`); None: it never ran.

        Server text: the caller reads it through `cutover.Execution.from_raw`.
        """
        call = f"GET v1/jobs/history?job={job_id}"
        response, _ = await self._request(
            "GET",
            f"{self._api}jobs/history",
            call=call,
            params={"job": job_id, "execution": "last"},
        )
        if response.status_code not in NOT_FOUND_STATUSES:
            body = reply(response, call, scrub=self._scrub, ok=(200,))
            runs = body.get("job_executions")
            if isinstance(runs, list) and runs and isinstance(runs[0], dict):
                return runs[0]
        job = await self.get_job(job_id)
        if job is None:
            return None
        for key in ("execution", "previous_execution"):
            if isinstance(found := job.raw.get(key), dict):
                return found
        return None

    async def _get_each(self, ids: Iterable[str]) -> dict[str, LiveJob]:
        jobs = await gather(self.get_job(job_id) for job_id in ids)
        return {job.id: job for job in jobs if job is not None}

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
        started = self._clock()
        attempt = 0
        reauthenticated = False
        uncertain = False
        waited_until = -math.inf  # the end of the last retry wait: no pause to wait again
        while True:
            attempt += 1
            headers: dict[str, str] = {}
            token = ""
            if authorize:
                token = await self._auth.access_token()
                headers["Authorization"] = f"Bearer {token}"
            asked: float | None = None
            cause: Exception | None = None
            status: int | None = None
            sent = True
            try:
                response = await self._send(method, url, params, json, form, headers, waited_until)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # retrying will not fix it
                    raise ApiError(
                        f"the server's TLS certificate is not trusted: {exc}",
                        call=call,
                        hint="for a private CA, point SSL_CERT_FILE at its certificate bundle",
                    ) from exc
                cause, last, sent = exc, f"could not connect: {describe(exc, self._scrub)}", False
            except httpx.UnsupportedProtocol as exc:
                raise ApiError(f"cannot send: {exc}", call=call) from exc
            except httpx.TransportError as exc:  # sent, maybe processed, reply lost
                cause, last = exc, describe(exc, self._scrub)
            except httpx.HTTPError as exc:
                if repeat is Repeat.ONCE:
                    raise outcome_unknown(call, describe(exc, self._scrub)) from exc
                raise ApiError(
                    f"unreadable reply: {describe(exc, self._scrub)}", call=call
                ) from exc
            else:
                status = response.status_code
                if status == 401 and authorize:
                    refusal = self._auth.static_refusal(response, call)
                    if refusal is not None:
                        raise refusal
                    if reauthenticated:
                        raise AuthError(
                            "the server refused a fresh token: "
                            + error_text(response, self._scrub),
                            call=call,
                            status=401,
                            hint="the account may lack the rights for this call",
                        )
                    reauthenticated = True
                    attempt -= 1  # a new token is not a retry of the call
                    await self._auth.reauthenticate(stale=token)
                    continue
                if status in RETRY_STATUSES:  # the only replies whose Retry-After counts
                    header = response.headers.get("Retry-After")
                    asked = retry_after(header)
                    if header and asked is None:
                        self._warn_once(
                            "Retry-After",
                            f"{call}: the server's Retry-After {shorten(self._scrub(header))!r} "
                            "is not a usable wait; taken as absent",
                        )
            elapsed = self._clock() - started
            verdict = decide(
                repeat=repeat,
                sent=sent,
                status=status,
                attempt=attempt,
                elapsed=elapsed,
                retry_after=asked,
                policy=self._retry,
                rng=self._rng,
            )
            if verdict.action is Action.ACCEPT:
                return response, uncertain
            if verdict.action is Action.UNKNOWN:
                if status is None:
                    raise outcome_unknown(call, last) from cause
                # A server error after the request arrived: it may have done the work.
                raise outcome_unknown(call, f"server answered {error_text(response, self._scrub)}")
            if status is not None:
                last = error_text(response, self._scrub)
            uncertain = uncertain or may_be_done(sent=sent, status=status)
            if verdict.action is Action.GIVE_UP:
                shown = f"; it asked to wait {asked:g} s" if asked else ""
                raise ApiError(
                    f"gave up after {attempt} attempts in {elapsed:.1f} s; "
                    f"last answer: {last}{shown}",
                    call=call,
                    status=status,
                    hint=f"is the server at {self._base} up and reachable?"
                    if status is None
                    else "the server is overloaded or unavailable; try again later",
                ) from cause
            _log.debug("%s: %s; retry %d in %.2f s", call, last, attempt, verdict.wait)
            waited_until = self._clock() + verdict.wait
            await self._sleep(verdict.wait)

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        json: Any,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str],
        waited_until: float,
    ) -> httpx.Response:
        request = self._build(method, url, params=params, json=json, form=form, headers=headers)
        sent_at = await self._limiter.acquire(waited_until=waited_until)
        slot = self._free_slots.pop()
        status: int | None = None
        asked: float | None = None
        try:
            self.request_count += 1
            # One deadline for headers and body: httpx's read timeout restarts with every
            # chunk, so a server trickling a byte a second would never time out.
            async with asyncio.timeout(self._timeout):
                response = await self._senders[slot % len(self._senders)](request)
            # Read whole by now. Through `client.send` (a proxy, an injected transport) the
            # reply and its stream refer to each other, a cycle that kept every reply's bytes
            # (0.7 MB a listing page) until the cycle collector ran: cut it.
            response.stream = httpx.ByteStream(response.content)
            status = response.status_code
            if status in REFUSALS:
                asked = retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            raise httpx.ReadTimeout(
                f"no complete reply within {self._timeout:g} s (headers and body)",
                request=request,
            ) from None
        finally:
            self._free_slots.append(slot)
            self._limiter.release(
                sent_at=sent_at, status=status, retry_after=asked, backoff=self._pause
            )
        self._note_server_time(response.headers.get("Date"))
        return response

    def _warn_once(self, header: str, text: str) -> None:
        """Warn about an unusable `header` once per client, not on every reply."""
        if header not in self._told:
            self._told.add(header)
            self._warn(text)

    def _note_server_time(self, header: str | None) -> None:
        if not header or header == self._last_date:  # a Date changes once a second: parse once
            return
        self._last_date = header
        seen = http_date(header)
        if seen is None:
            self._warn_once(
                "Date",
                f"the server's Date header {shorten(self._scrub(header))!r} is not a "
                "usable date; taken as absent",
            )
            return
        if self.server_time is None or seen > self.server_time:
            self.server_time = seen
