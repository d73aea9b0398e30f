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
live here, at the edge of each handler, so the default path stays the documented one.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import random
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from jobspec.emulator import rules
from jobspec.emulator.auth import BearerRefused, GrantRefused, Principal, TokenBook
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.demo import demo_jobs
from jobspec.emulator.faults import (
    Decision,
    FaultPlan,
    FaultSettings,
    FaultsRejected,
    ReplyDropped,
)
from jobspec.emulator.runs import Runs, RunSettings, RunsRejected
from jobspec.emulator.store import JobStore, StoredJob

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
QUIRK_MAX_LIMIT = 100  # page-cap-100
SUMMARY_FIELDS = ("kind", "id", "name", "disabled", "type", "links")
"""What a summary reply holds: the clone reply as the vendor's help page shows it."""
ODD_JOBS: tuple[dict[str, Any], ...] = (
    {"id": "system-content-indexer", "kind": "system", "name": "Content indexer", "type": "job"},
    {"id": "0" * 32, "kind": "transfer", "type": "job", "status": "idle"},  # no name
)
"""System jobs the odd-jobs quirk adds to every list: an id that is not a job id, no name."""

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
BULK_CONTROL = "PATCH /v1/jobs"
TRANSFER_STATS = "GET /v1/transfers/{id}/stats"
API_ROUTES = (
    TOKEN,
    LIST_JOBS,
    JOBS_HISTORY,
    JOB_CATEGORIES,
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

STATUS_AFTER_ACTION = {"start": "running", "pause": "paused", "resume": "running", "cancel": "idle"}
SORTABLE_FIELDS = ("id", "name", "created_on", "modified_on", "status", "kind")

JobHandler = Callable[[Request, Principal], Awaitable[Response]]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def _errors(status: int, *descriptions: str, headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"description": description} for description in descriptions]}
    return _json(_dumps(body), status, headers)


class BadRequest(Exception):
    """A request the API refuses with 400; each problem becomes one error description."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _DroppedReply(Response):
    """Starts the reply, then raises before the body: uvicorn closes the connection mid-reply.

    A reply without a body (204) would be complete after its headers, so it is replaced by a
    200 that announces a body: the client always sees a cut-off reply, never a success.
    """

    def __init__(self, reply: Response) -> None:  # no super().__init__: nothing is rendered
        self.reply = reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.reply.body:
            status, headers = self.reply.status_code, self.reply.raw_headers
        else:
            status = 200
            headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        raise ReplyDropped(f"emulated fault: reply to {scope['method']} {scope['path']} dropped")


class _HideDroppedReplies(logging.Filter):
    """Keep uvicorn's "Exception in ASGI application" out of the log when nothing is wrong.

    That is a deliberate drop, or a client that hung up before its body arrived (it timed out
    during a latency spike): there is nobody left to answer, and no bug to show.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ReplyDropped | ClientDisconnect)


def hide_dropped_reply_errors() -> None:
    """Install the log filter on uvicorn's error logger once; safe to call again."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _HideDroppedReplies) for existing in logger.filters):
        logger.addFilter(_HideDroppedReplies())


def _parse_json_object(raw: bytes, *, required: bool) -> dict[str, Any]:
    if not raw.strip():
        if required:
            raise BadRequest("request body must be a JSON object")
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:  # invalid JSON, or bytes that are not UTF-8
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise BadRequest(f"request body is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    _check_plain(body)
    return body


def _check_plain(body: dict[str, Any]) -> None:
    """Refuse what the store could not keep or serve back: over-deep nesting, and strings a
    lone surrogate (`"\\ud800"`) makes unencodable. Iterative, so depth cannot hurt it."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"request body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise BadRequest("request body holds invalid Unicode (a lone surrogate)")


MAX_DEPTH = 64  # nesting a job body may have; real ones have under 10
_SURROGATE = re.compile("[\ud800-\udfff]")


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("0", "false", "no", "off")


def _int_param(request: Request, name: str, default: int, *, minimum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be >= {minimum}, got {value}")
    return value


def _choices(request: Request, name: str) -> set[str] | None:
    values = [
        part.strip()
        for raw in request.query_params.getlist(name)
        for part in raw.split(",")
        if part.strip()
    ]
    return set(values) or None


def _sort_key(raw: str) -> tuple[Callable[[StoredJob], Any], bool]:
    field, _, direction = raw.strip().partition(" ")
    direction = direction.strip().upper() or "ASC"
    if field not in SORTABLE_FIELDS or direction not in ("ASC", "DESC"):
        raise BadRequest(
            f"sort must be '<field> ASC' or '<field> DESC' with field one of: "
            f"{', '.join(SORTABLE_FIELDS)}; got {raw!r}"
        )

    def key(stored: StoredJob) -> tuple[bool, Any]:
        value = stored.job.get(field)
        if isinstance(value, str):
            value = value.casefold()
        return (value is None, value if value is not None else 0)

    return key, direction == "DESC"


def _view(request: Request, *, whole: bool) -> tuple[str, ...] | None:
    """What a reply shows of each job: None for the whole job, else the dotted paths to add
    to the summary. `fields=all` asks for everything, `fields=a,b.c` for those paths."""
    names = [
        part.strip()
        for raw in request.query_params.getlist("fields")
        for part in raw.split(",")
        if part.strip()
    ]
    if "all" in names:
        return None
    if names:
        return tuple(names)
    return None if whole else ()


def _summary(job: rules.RawJob, paths: tuple[str, ...]) -> rules.RawJob:
    shown = {key: job[key] for key in SUMMARY_FIELDS if key in job}
    for path in paths:
        keys = path.split(".")
        found, value = rules.lookup(job, tuple(keys))
        if not found:
            continue
        node = shown
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = copy.deepcopy(value)
    return shown


class Emulator:
    """The emulated server's state (jobs, tokens, faults, stats) and its request handlers."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = JobStore(config.data_path)
        self.tokens = TokenBook(config)
        self.faults = self._fresh_faults()
        self.runs = Runs(self.store, RunSettings.from_config(config), config.clock)
        self.runs.adopt(list(self.store.live()))  # from a --data file: runs start over
        self.stats: Counter[str] = Counter()
        self._reads = 0  # server-fields-move: reads so far
        self._shuffle = random.Random(config.seed)  # unstable-order
        self._seed_demo()

    def _fresh_faults(self) -> FaultPlan:
        return FaultPlan(
            FaultSettings.from_config(self.config), routes=API_ROUTES, droppable=DROPPABLE_ROUTES
        )

    def _seed_demo(self) -> None:
        if self.config.demo and len(self.store) == 0:
            self.runs.adopt(self.store.add_many(demo_jobs()))

    def reset(self) -> None:
        """Back to the start-up state: no jobs (demo reseeded), tokens, stats; faults from flags."""
        self.store.clear()
        self.tokens.clear()
        self.stats.clear()
        self.faults = self._fresh_faults()
        self.runs.reset(RunSettings.from_config(self.config))
        self._seed_demo()

    def _now(self) -> int:
        return int(self.config.clock())

    # --- routes ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            self._open_api(TOKEN, self.token),
            self._api(LIST_JOBS, self.list_jobs),
            # before `/v1/jobs/{id}`, which would take "history" for a job id
            self._api(JOBS_HISTORY, self.jobs_history),
            self._api(JOB_CATEGORIES, self.job_categories),
            self._api(BULK_CONTROL, self.bulk_control),
            self._api(TRANSFER_STATS, self.transfer_stats),
            self._api(CREATE_JOB, self.create_job),
            self._api(GET_JOB, self.get_job),
            self._api(PATCH_JOB, self.patch_job),
            self._api(DELETE_JOB, self.delete_job),
            self._api(CLONE_JOB, self.clone_job),
            self._api(JOB_HISTORY, self.job_history),
        ]
        if self.config.controls:
            routes += [
                Route("/_emulator/reset", self.control_reset, methods=["POST"]),
                Route("/_emulator/jobs", self.control_seed, methods=["POST"]),
                Route("/_emulator/jobs", self.control_jobs, methods=["GET"]),
                Route("/_emulator/stats", self.control_stats, methods=["GET"]),
                Route("/_emulator/faults", self.control_faults, methods=["GET", "POST"]),
                Route("/_emulator/tokens/expire", self.control_expire, methods=["POST"]),
                Route("/_emulator/runs", self.control_runs, methods=["GET", "POST"]),
            ]
        return routes

    async def _prelude(self, route: str) -> Decision | Response:
        """Count the request and apply latency; a Response here is the fault reply to send."""
        self.stats[route] += 1
        self.runs.tick()  # runs due to end (or start) by now have, before anything is read
        decision = self.faults.decide(route)
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        if decision.status == 503:
            return _errors(503, "emulated fault: service unavailable")
        if decision.status == 429:
            headers = {"Retry-After": str(decision.retry_after or 0)}
            return _errors(429, "emulated fault: too many requests", headers=headers)
        return decision

    def _open_api(self, route: str, handler: Callable[[Request], Awaitable[Response]]) -> Route:
        method, path = route.split(" ", 1)

        async def endpoint(request: Request) -> Response:
            decision = await self._prelude(route)
            if isinstance(decision, Response):
                return decision
            response = await handler(request)
            return _DroppedReply(response) if decision.drop else response

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
                return _errors(401, str(exc), headers=headers)
            try:
                response = await handler(request, principal)
            except BadRequest as exc:
                response = _errors(400, *exc.problems)
            except rules.JobRejected as exc:
                response = _errors(400, *exc.problems)
            return _DroppedReply(response) if decision.drop else response

        return Route(path, endpoint, methods=[method], name=route)

    # --- rendering ------------------------------------------------------------------------------

    @staticmethod
    def _href(request: Request, job_id: str) -> str:
        return f"{request.base_url}v1/jobs/{job_id}"

    def _single(
        self, request: Request, stored: StoredJob, status: int = 200, *, whole: bool = True
    ) -> Response:
        """A one-job reply; `whole=False`: a summary unless `fields` asks for more."""
        view = _view(request, whole=whole and not self.config.quirk("summary-replies"))
        job = self._shown(stored, self._href(request, stored.id), view)
        return _json(f'{{"status":{status},"type":"job","job":{job}}}', status)

    def _shown(self, stored: StoredJob, href: str, view: tuple[str, ...] | None) -> str:
        """One job's JSON as a reply shows it: whole (`view` None) or a summary with the
        `view` paths; deleted (status `deleted`) and with moving server fields per quirks."""
        moving = self.config.quirk("server-fields-move")
        if view is None and not moving and not stored.deleted:
            return stored.json_with_self_link(href)  # the fast path: no parsing, no dumping
        job = self._moved(stored.job) if moving else dict(stored.job)
        if stored.deleted:
            job["status"] = "deleted"
        job["links"] = {"self": {"href": href}}
        return _dumps(job if view is None else _summary(job, view))

    def _moved(self, job: rules.RawJob) -> rules.RawJob:
        """The job with its server-maintained fields as a running server shows them: new
        values on every read (server-fields-move)."""
        self._reads += 1
        n = self._reads
        moved = dict(job)
        moved["execute_on"] = self._now() + 3600 + n
        moved["health"] = ("healthy", "warning")[n % 2]
        moved["discriminator"] = "TransferJob"
        moved["size_estimate"] = {"bytes": 1024 * n, "files": n}
        moved["modified_on"] = int(job.get("modified_on") or 0) + n
        stop = job.get("stop_policy")
        moved["stop_policy"] = {
            **(stop if isinstance(stop, dict) else {}),
            "completions": n,
            "failures": n // 3,
            "executions": n + n // 3,
        }
        transfer = job.get("transfer")
        if isinstance(transfer, dict):
            transfer = dict(transfer)
            for side in ("source", "destination"):
                if isinstance(transfer.get(side), dict):
                    transfer[side] = {**transfer[side], "event_position": f"ev-{n}"}
            moved["transfer"] = transfer
        return moved

    def _q(self, name: str) -> bool:
        return self.config.quirk(name)

    def _not_found(self, job_id: str) -> Response:
        return _errors(404, f"job {job_id} not found")

    # --- API handlers (after the prelude; each does its store work without awaiting) -------------

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            reply = self.tokens.grant(form)
        except GrantRefused as exc:
            body = {"error": exc.error, "error_description": exc.description}
            return _json(_dumps(body), 400, {"Cache-Control": "no-store"})
        return _json(_dumps(reply), 200, {"Cache-Control": "no-store"})

    async def list_jobs(self, request: Request, principal: Principal) -> Response:
        offset = _int_param(request, "offset", 0, minimum=0)
        cap = QUIRK_MAX_LIMIT if self._q("page-cap-100") else MAX_LIMIT
        limit = min(_int_param(request, "limit", DEFAULT_LIMIT, minimum=1), cap)
        sort = request.query_params.get("sort")
        sort_key = _sort_key(sort) if sort else None
        indexed = self._indexed_order(request, sort)
        if indexed is not None:  # the usual listing: a slice of an index, O(page)
            order, descending = indexed
            total = self.store.live_count()
            page = self.store.live_page(offset, limit, order=order, descending=descending)
        else:
            jobs = self._matching(request, self._listed())
            if sort_key is not None:
                key, descending = sort_key
                jobs.sort(key=key, reverse=descending)
            elif self._q("unstable-order"):
                self._shuffle.shuffle(jobs)
            total = len(jobs)
            page = jobs[offset : offset + limit]
        has_more = offset + len(page) < total

        base = f"{request.base_url}v1/jobs"
        kept = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")
        ]

        def href(page_offset: int) -> str:
            query = urlencode([*kept, ("offset", page_offset), ("limit", limit)], quote_via=quote)
            return f"{base}?{query}"

        links: dict[str, Any] = {"self": {"href": href(offset)}}
        if has_more:
            links["next"] = {"href": href(offset + limit)}
        meta: dict[str, Any] = {"offset": offset, "limit": limit, "total_count": total}
        if self._q("no-total-count"):
            del meta["total_count"]
        meta |= {"has_more": has_more, "links": links}
        view = _view(request, whole=not self._q("summary-replies"))
        items = ",".join(self._shown(stored, f"{base}/{stored.id}", view) for stored in page)
        return _json(f'{{"status":200,"type":"jobs","jobs":[{items}],"meta":{_dumps(meta)}}}')

    def _indexed_order(self, request: Request, sort: str | None) -> tuple[str, bool] | None:
        """(order, descending) when the store's indexes can serve this listing: no filter, no
        quirk that changes what a list holds, and creation order or `sort=id`. Else None."""
        if any(name in request.query_params for name in ("kind", "status", "q", "parent")):
            return None
        if self._q("deleted-in-lists") or self._q("odd-jobs"):
            return None
        if not sort:
            return None if self._q("unstable-order") else ("creation", False)
        field, _, direction = sort.strip().partition(" ")
        if field != "id":
            return None
        return "id", direction.strip().upper() == "DESC"

    def _listed(self) -> list[StoredJob]:
        """Every job a list shows, before filters: deleted ones and system jobs per quirks."""
        jobs = list(self.store.everything() if self._q("deleted-in-lists") else self.store.live())
        if self._q("odd-jobs"):
            jobs += [StoredJob.of(dict(odd)) for odd in ODD_JOBS]
        return jobs

    @staticmethod
    def _matching(request: Request, jobs: list[StoredJob]) -> list[StoredJob]:
        """The jobs that pass a list's filters (`kind`, `status`, `q`, `parent`)."""
        kinds, statuses = _choices(request, "kind"), _choices(request, "status")
        text = request.query_params.get("q", "").casefold()
        parent = request.query_params.get("parent")
        return [
            stored
            for stored in jobs
            if (kinds is None or stored.job.get("kind") in kinds)
            and (
                statuses is None
                or ("deleted" if stored.deleted else stored.job.get("status")) in statuses
            )
            and (not text or text in str(stored.job.get("name", "")).casefold())
            and (parent is None or str(stored.job.get("parent_id")) == parent)
        ]

    async def get_job(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["id"]
        stored = self.store.get(job_id)
        return self._not_found(job_id) if stored is None else self._single(request, stored)

    def _new_job(self, job: rules.RawJob, principal: Principal) -> StoredJob:
        now = self._now()
        who = principal.name
        body = {key: value for key, value in job.items() if key not in rules.SERVER_FIELDS}
        new = {
            "id": uuid.uuid4().hex,
            "kind": "transfer",
            **body,
            "status": "idle",
            "created_on": now,
            "created_by": who,
            "modified_on": now,
            "modified_by": who,
            "type": "job",
        }
        return self.store.add(new)

    @property
    def _created(self) -> int:
        return 200 if self._q("status-200") else 201

    def _merge(self, base: rules.RawJob, body: rules.RawJob) -> rules.RawJob:
        """A write's body over a job: deep-merged, or endpoints replaced whole
        (replace-endpoints), and then each endpoint must be whole; set-like lists in the
        server's order (reorder-sets)."""
        if self._q("replace-endpoints"):
            merged = rules.replace_endpoints(base, body)
            problems = rules.endpoint_problems(merged)
            if problems:
                raise rules.JobRejected(problems)
        else:
            merged = rules.deep_merge(base, body)
        return rules.sorted_sets(merged) if self._q("reorder-sets") else merged

    async def create_job(self, request: Request, principal: Principal) -> Response:
        body = rules.normalise_body(_parse_json_object(await request.body(), required=True))
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            body = {**body, "name": self._default_name()}  # the server names it
        body = self._merge({}, body)
        rules.check(body)
        return self._single(request, self._new_job(body, principal), self._created)

    def _default_name(self) -> str:
        taken = {str(stored.job.get("name")) for stored in self.store.live()}
        n = 1
        while f"New transfer job {n}" in taken:
            n += 1
        return f"New transfer job {n}"

    async def clone_job(self, request: Request, principal: Principal) -> Response:
        overrides = _parse_json_object(await request.body(), required=False)
        job_id = request.path_params["id"]
        source = self.store.get(job_id)
        if source is None:
            return self._not_found(job_id)
        job = self._merge(rules.clone_base(source.job), rules.normalise_body(overrides))
        rules.check(job)
        # The documented reply: a summary of the new job; the whole job takes a GET.
        return self._single(request, self._new_job(job, principal), self._created, whole=False)

    async def patch_job(self, request: Request, principal: Principal) -> Response:
        raw = await request.body()
        actions = [name for name in STATUS_AFTER_ACTION if _flag(request.query_params.get(name))]
        if len(actions) > 1:
            raise BadRequest(f"send one of start, pause, resume, cancel at a time, not {actions}")
        body = _parse_json_object(raw, required=False)
        job_id = request.path_params["id"]
        stored = self.store.get(job_id)
        if stored is None:
            return self._not_found(job_id)
        current = stored.job
        job = current
        if body and self._q("patch-needs-kind") and body.get("kind") != current.get("kind"):
            raise BadRequest(
                f"kind {body.get('kind')!r} does not match the job's kind "
                f"{current.get('kind')!r}; send the job's kind in every PATCH"
            )
        if body:
            merged = self._merge(current, rules.normalise_patch(body))
            problems = rules.immutable_changes(current, merged) + rules.problems_in(merged)
            if problems:
                raise rules.JobRejected(problems)
            if merged != current:
                merged["modified_on"] = self._now()
                merged["modified_by"] = principal.name
                job = merged
        if job is not current:
            stored = self.store.replace(job)
        if actions:
            stored = self.runs.control(job_id, actions[0])
        return self._single(request, stored)

    async def job_history(self, request: Request, principal: Principal) -> Response:
        """The job's executions, newest first, in the list envelope; a deleted job's too."""
        job_id = request.path_params["id"]
        if self.store.get(job_id, include_deleted=True) is None:
            return self._not_found(job_id)
        offset = _int_param(request, "offset", 0, minimum=0)
        limit = min(_int_param(request, "limit", DEFAULT_LIMIT, minimum=1), MAX_LIMIT)
        executions = self.runs.history(job_id)
        page = executions[offset : offset + limit]
        has_more = offset + len(page) < len(executions)
        base = f"{request.base_url}v1/jobs/{job_id}/history"
        links: dict[str, Any] = {"self": {"href": f"{base}?offset={offset}&limit={limit}"}}
        if has_more:
            links["next"] = {"href": f"{base}?offset={offset + limit}&limit={limit}"}
        meta = {
            "offset": offset,
            "limit": limit,
            "total_count": len(executions),
            "has_more": has_more,
            "links": links,
        }
        body = {"status": 200, "type": "executions", "executions": page, "meta": meta}
        return _json(_dumps(body))

    async def jobs_history(self, request: Request, principal: Principal) -> Response:
        """The vendor client's history: `GET v1/jobs/history?job=ID[&execution=last]`,
        executions newest first under `job_executions`; every job's without `job`."""
        job_id = request.query_params.get("job")
        if job_id is not None and self.store.get(job_id, include_deleted=True) is None:
            return self._not_found(job_id)
        ids = [job_id] if job_id is not None else [s.id for s in self.store.everything()]
        last = request.query_params.get("execution") == "last"
        executions = []
        for one in ids:
            runs = self.runs.history(one)
            executions += runs[:1] if last else runs
        executions.sort(key=lambda run: (-int(run.get("start_time") or 0), -int(run["id"])))
        offset = _int_param(request, "offset", 0, minimum=0)
        limit = min(_int_param(request, "limit", DEFAULT_LIMIT, minimum=1), MAX_LIMIT)
        page = executions[offset : offset + limit]
        meta = {
            "offset": offset,
            "limit": limit,
            "total_count": len(executions),
            "has_more": offset + len(page) < len(executions),
        }
        body = {"status": 200, "type": "job_executions", "job_executions": page, "meta": meta}
        return _json(_dumps(body))

    async def job_categories(self, request: Request, principal: Principal) -> Response:
        """The categories jobs name (`category`), the default one always."""
        found = {-1: {"id": -1, "name": "Default"}}
        for stored in self.store.live():
            category = stored.job.get("category")
            if isinstance(category, dict) and "id" in category:
                found.setdefault(category["id"], dict(category))
        categories = sorted(found.values(), key=lambda c: str(c.get("name")))
        meta = {"offset": 0, "limit": len(categories), "total_count": len(categories)}
        body = {"status": 200, "type": "categories", "categories": categories, "meta": meta}
        return _json(_dumps(body))

    async def bulk_control(self, request: Request, principal: Principal) -> Response:
        """`PATCH v1/jobs?start=1&<list filters>` (pause, resume, cancel alike): the vendor
        client's bulk start and pause; answers how many jobs it touched."""
        raw = await request.body()
        actions = [name for name in STATUS_AFTER_ACTION if _flag(request.query_params.get(name))]
        if len(actions) != 1:
            raise BadRequest("send exactly one of start, pause, resume, cancel")
        if _parse_json_object(raw, required=False):
            raise BadRequest("bulk changes to job fields are not emulated; PATCH each job")
        jobs = self._matching(request, list(self.store.live()))
        for stored in jobs:
            self.runs.control(stored.id, actions[0])
        meta = {"total_count": len(jobs)}
        return _json(_dumps({"status": 200, "type": "jobs", "jobs": [], "meta": meta}))

    async def transfer_stats(self, request: Request, principal: Principal) -> Response:
        """`GET v1/transfers/{id}/stats` (the vendor CLI's `jobs stats`): a timeline with one
        point per run; the emulator moves no content, so every count is 0."""
        job_id = request.path_params["id"]
        if self.store.get(job_id, include_deleted=True) is None:
            return self._not_found(job_id)
        zero = {"bytes": 0, "files": 0, "folders": 0}
        timeline = [
            {
                "timestamp": run["start_time"],
                "stats": {"transfer": {"source": dict(zero), "destination": dict(zero)}},
            }
            for run in reversed(self.runs.history(job_id))
        ]
        stats = {"id": job_id, "timeline": timeline}
        return _json(_dumps({"status": 200, "type": "stats", "stats": stats}))

    async def delete_job(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["id"]
        if not self.store.delete(job_id):
            return self._not_found(job_id)
        self.runs.deleted(job_id)
        if self._q("status-200"):
            return _json(_dumps({"status": 200, "type": "job", "job": {"id": job_id}}))
        return Response(status_code=204)

    # --- /_emulator/ controls (no auth, no faults, not counted) ----------------------------------

    async def control_reset(self, request: Request) -> Response:
        self.reset()
        return Response(status_code=204)

    async def control_seed(self, request: Request) -> Response:
        try:
            body = _parse_json_object(await request.body(), required=True)
            raw_jobs = body.get("jobs")
            if not isinstance(raw_jobs, list):
                raise BadRequest('body must be {"jobs": [job, …]}')
            jobs = self._seed_jobs(raw_jobs)
        except BadRequest as exc:
            return _errors(400, *exc.problems)
        stored = self.store.add_many(jobs)
        self.runs.adopt(stored)
        return _json(_dumps({"ids": [entry.id for entry in stored]}), 201)

    def _seed_jobs(self, raw_jobs: list[Any]) -> list[rules.RawJob]:
        """Seeded jobs, validated like a create; a given id, status or timestamp is kept."""
        problems: list[str] = []
        jobs: list[rules.RawJob] = []
        seen: set[str] = set()
        now = self._now()
        who = self.config.username
        for index, raw in enumerate(raw_jobs):
            if not isinstance(raw, dict):
                problems.append(f"jobs[{index}] must be a JSON object")
                continue
            body = rules.normalise_body(raw)
            problems += [f"jobs[{index}]: {problem}" for problem in rules.problems_in(body)]
            job_id = raw.get("id") or uuid.uuid4().hex
            if not isinstance(job_id, str) or not rules.JOB_ID_RE.match(job_id):
                problems.append(f"jobs[{index}]: id must be 32 lowercase hex digits")
            elif job_id in seen or self.store.exists(job_id):
                problems.append(f"jobs[{index}]: id {job_id} already exists")
            seen.add(str(job_id))
            jobs.append(
                {
                    "id": job_id,
                    "kind": "transfer",
                    **body,
                    "status": raw.get("status", "idle"),
                    "created_on": raw.get("created_on", now),
                    "created_by": raw.get("created_by", who),
                    "modified_on": raw.get("modified_on", raw.get("created_on", now)),
                    "modified_by": raw.get("modified_by", who),
                    "type": "job",
                }
            )
        if problems:
            raise BadRequest(*problems)
        return jobs

    async def control_jobs(self, request: Request) -> Response:
        self.runs.tick()
        include_deleted = _flag(request.query_params.get("include_deleted"))
        entries = self.store.everything() if include_deleted else self.store.live()
        jobs = [
            {**stored.job, "links": {"self": {"href": self._href(request, stored.id)}}}
            | {"deleted": stored.deleted}
            for stored in entries
        ]
        return _json(_dumps({"jobs": jobs}))

    async def control_stats(self, request: Request) -> Response:
        return _json(_dumps({"total": sum(self.stats.values()), "requests": dict(self.stats)}))

    async def control_faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = _parse_json_object(await request.body(), required=True)
                self.faults.update(body)
            except BadRequest as exc:
                return _errors(400, *exc.problems)
            except FaultsRejected as exc:
                return _errors(400, *exc.problems)
        return _json(_dumps(self.faults.settings.as_json()))

    async def control_runs(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = _parse_json_object(await request.body(), required=True)
                self.runs.tick()  # what was due under the old settings happens first
                self.runs.settings = self.runs.settings.updated(body)
            except BadRequest as exc:
                return _errors(400, *exc.problems)
            except RunsRejected as exc:
                return _errors(400, *exc.problems)
        return _json(_dumps(self.runs.settings.as_json()))

    async def control_expire(self, request: Request) -> Response:
        self.tokens.expire_all()
        return Response(status_code=204)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer in the API's errors envelope."""
    assert isinstance(exc, HTTPException)
    return _errors(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")


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
        exception_handlers={404: _http_error, 405: _http_error},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app
