"""The HTTP face of the emulator: `create_app(config)` returns the Starlette app.

It serves the DryvIQ jobs API described in `dryviq-api.md` (token endpoint and `/v1/jobs`),
plus test controls under `/_emulator/` that a real server does not have.

Every API request goes through one prelude: count it in the stats, ask the fault plan what to
do to it (latency, 503, 429, lost reply), then check the bearer token. Handlers read the body
first (the only await) and then run the store calls without awaiting again, so on one event
loop each request's read-modify-write is atomic: 50 concurrent clones make 50 jobs, and
concurrent patches of different fields all land.

Choices the API leaves open (see the README section): default page size 20, a `limit` above
1000 is clamped to 1000; clone replies are summaries (documented), other replies whole jobs
unless `fields` names what to return; `start`/`resume` set `running`, `pause` sets `paused`,
`cancel` sets `idle`, and runs end by themselves (runs.py); none of them moves `modified_on`
(they are runs, not edits); `GET v1/jobs/{id}/history` answers for deleted jobs too (their
history is kept); server fields a client sends (`id`, `status`, `created_*`, `modified_*`,
`links`, `type`) are ignored, and so are transfer settings sent at the top of a PATCH.

`EmulatorConfig.quirks` switches on, one by one, the stricter or less convenient behaviours a
real server may show where the docs are silent (`config.QUIRKS` says what each does); they
live at the edge of each handler, so the default path stays the documented one.

This module wires the routes to their handlers: jobs.py (the jobs API), vendor.py (the vendor
client's extra routes) and controls.py (`/_emulator/`); replies.py writes what they answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from jobspec.emulator import rules
from jobspec.emulator.auth import BearerRefused, Principal, TokenBook
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.connections import ConnectionsApi
from jobspec.emulator.controls import Controls
from jobspec.emulator.demo import demo_jobs, with_item_chains
from jobspec.emulator.faults import Decision, FaultPlan
from jobspec.emulator.jobs import JobsApi
from jobspec.emulator.replies import (
    BadRequest,
    DroppedReply,
    errors,
    hide_dropped_reply_errors,
    http_error,
)
from jobspec.emulator.runs import Runs
from jobspec.emulator.store import JobStore
from jobspec.emulator.vendor import VendorApi

__all__ = ["API_ROUTES", "DROPPABLE_ROUTES", "Emulator", "create_app", "hide_dropped_reply_errors"]

TOKEN = "POST /connect/token"
LIST_JOBS = "GET /v1/jobs"
CREATE_JOB = "POST /v1/jobs"
GET_JOB = "GET /v1/jobs/{id}"
PATCH_JOB = "PATCH /v1/jobs/{id}"
DELETE_JOB = "DELETE /v1/jobs/{id}"
CLONE_JOB = "POST /v1/jobs/{id}/clone"
JOB_HISTORY = "GET /v1/jobs/{id}/history"
JOBS_HISTORY = "GET /v1/jobs/history"
JOB_CATEGORIES = "GET /v1/jobs/categories"
ADD_JOB_CATEGORY = "POST /v1/jobs/categories"
JOBS_HISTORY_CSV = "GET /v1/jobs/history.csv"
LIST_CONNECTIONS = "GET /v1/connections"
GET_CONNECTION = "GET /v1/connections/{id}"
BULK_CONTROL = "PATCH /v1/jobs"
TRANSFER_STATS = "GET /v1/transfers/{id}/stats"
API_ROUTES = (
    TOKEN,
    LIST_JOBS,
    JOBS_HISTORY,
    JOBS_HISTORY_CSV,
    JOB_CATEGORIES,
    ADD_JOB_CATEGORY,
    LIST_CONNECTIONS,
    GET_CONNECTION,
    BULK_CONTROL,
    TRANSFER_STATS,
    CREATE_JOB,
    GET_JOB,
    PATCH_JOB,
    DELETE_JOB,
    CLONE_JOB,
    JOB_HISTORY,
)
TICK_SECONDS = 0.2
"""How often the background task moves runs along (requests also do, before they are served)."""
# Routes where `fault_drop` applies: the change is committed, then the reply is lost.
DROPPABLE_ROUTES = (PATCH_JOB, DELETE_JOB, CLONE_JOB)

JobHandler = Callable[[Request, Principal], Awaitable[Response]]


class Emulator:
    """The emulated server's state (jobs, tokens, faults, stats) and its request handlers."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = JobStore(config.data_path)
        self.tokens = TokenBook(config)
        self.faults = self._fresh_faults()
        self.runs = Runs(self.store, config.run_settings, config.clock)
        self.runs.adopt(list(self.store.live()))  # from a --data file: runs start over
        self.stats: Counter[str] = Counter()
        self.categories: dict[int, dict[str, Any]] = {}
        """Categories made by `POST v1/jobs/categories` or named in a job body (docshapes)."""
        self._seed_demo()

    def _fresh_faults(self) -> FaultPlan:
        return FaultPlan(self.config.fault_settings, routes=API_ROUTES, droppable=DROPPABLE_ROUTES)

    def _seed_demo(self) -> None:
        if self.config.demo and len(self.store) == 0:
            jobs = demo_jobs()
            if self.config.quirk("docshapes"):
                jobs = with_item_chains(jobs)
            self.runs.adopt(self.store.add_many(jobs))

    def reset(self) -> None:
        """Back to the start-up state: no jobs (demo reseeded), tokens, stats; faults from flags."""
        self.store.clear()
        self.tokens.clear()
        self.stats.clear()
        self.categories.clear()
        self.faults = self._fresh_faults()
        self.runs.reset(self.config.run_settings)
        self._seed_demo()

    # --- routes ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        jobs, vendor, connections = JobsApi(self), VendorApi(self), ConnectionsApi(self)
        categories = jobs.categories
        routes: list[BaseRoute] = [
            self._open_api(TOKEN, jobs.token),
            self._api(LIST_JOBS, jobs.list_jobs),
            # before `/v1/jobs/{id}`, which would take "history" for a job id
            self._api(JOBS_HISTORY, vendor.jobs_history),
            self._api(JOBS_HISTORY_CSV, vendor.jobs_history_csv),
            self._api(JOB_CATEGORIES, categories.list_categories),
            self._api(ADD_JOB_CATEGORY, categories.add_category),
            self._api(LIST_CONNECTIONS, connections.list_connections),
            self._api(GET_CONNECTION, connections.get_connection),
            self._api(BULK_CONTROL, vendor.bulk_control),
            self._api(TRANSFER_STATS, vendor.transfer_stats),
            self._api(CREATE_JOB, jobs.create_job),
            self._api(GET_JOB, jobs.get_job),
            self._api(PATCH_JOB, jobs.patch_job),
            self._api(DELETE_JOB, jobs.delete_job),
            self._api(CLONE_JOB, jobs.clone_job),
            self._api(JOB_HISTORY, vendor.job_history),
        ]
        if self.config.controls:
            routes += Controls(self).routes()
        return routes

    async def _prelude(self, route: str) -> Decision | Response:
        """Count the request and apply latency; a Response here is the fault reply to send."""
        self.stats[route] += 1
        self.runs.tick()  # runs due to end (or start) by now have, before anything is read
        decision = self.faults.decide(route)
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        if decision.status == 503:
            return errors(503, "emulated fault: service unavailable")
        if decision.status == 429:
            headers = {"Retry-After": str(decision.retry_after or 0)}
            return errors(429, "emulated fault: too many requests", headers=headers)
        return decision

    def _open_api(self, route: str, handler: Callable[[Request], Awaitable[Response]]) -> Route:
        method, path = route.split(" ", 1)

        async def endpoint(request: Request) -> Response:
            decision = await self._prelude(route)
            if isinstance(decision, Response):
                return decision
            response = await handler(request)
            return DroppedReply(response) if decision.drop else response

        return Route(path, endpoint, methods=[method], name=route)

    def _api(self, route: str, handler: JobHandler) -> Route:
        method, path = route.split(" ", 1)

        async def endpoint(request: Request) -> Response:
            decision = await self._prelude(route)
            if isinstance(decision, Response):
                return decision
            try:
                principal = self.tokens.check(request.headers.get("authorization"))
            except BearerRefused as exc:
                headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                return errors(401, str(exc), headers=headers)
            try:
                response = await handler(request, principal)
            except BadRequest as exc:
                response = errors(400, *exc.problems)
            except rules.JobRejected as exc:
                response = errors(400, *exc.problems)
            if decision.status_after is not None:  # done, then a gateway's answer instead
                return errors(decision.status_after, "emulated fault: upstream connect error")
            return DroppedReply(response) if decision.drop else response

        return Route(path, endpoint, methods=[method], name=route)


def create_app(config: EmulatorConfig) -> Starlette:
    """A fresh emulator app; its state is at `app.state.emulator` (an `Emulator`)."""
    emulator = Emulator(config)
    hide_dropped_reply_errors()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def tick_forever() -> None:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                emulator.runs.tick()

        ticker = asyncio.create_task(tick_forever())
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            emulator.store.close()

    app = Starlette(
        routes=emulator.routes(),
        exception_handlers={404: http_error, 405: http_error},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app
