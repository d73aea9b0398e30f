"""The jobs API proper: the token grant, list, get, create, clone, patch and delete.

Handlers read the body first (the only await) and then run the store calls without awaiting
again, so on one event loop each request's read-modify-write is atomic. Quirks
(`EmulatorConfig.quirks`) live here, at the edge of each handler, so the default path stays
the documented one.
"""

from __future__ import annotations

import copy
import random
import unicodedata
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from jobspec.emulator import rules
from jobspec.emulator.auth import GrantRefused, Principal
from jobspec.emulator.categories import Categories
from jobspec.emulator.connections import decorated, undecorated
from jobspec.emulator.replies import (
    BadRequest,
    choices,
    dumps,
    flag,
    int_param,
    json_reply,
    not_found,
    parse_json_object,
)
from jobspec.emulator.store import StoredJob
from jobspec.merge import deep_merge

if TYPE_CHECKING:
    from jobspec.emulator.app import Emulator

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
STATUS_AFTER_ACTION = {"start": "running", "pause": "paused", "resume": "running", "cancel": "idle"}
SORTABLE_FIELDS = ("id", "name", "created_on", "modified_on", "status", "kind")


def sort_order(raw: str) -> tuple[Callable[[StoredJob], Any], bool]:
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


def view_of(request: Request, *, whole: bool) -> tuple[str, ...] | None:
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


def summary(job: rules.RawJob, paths: tuple[str, ...]) -> rules.RawJob:
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


def job_href(request: Request, job_id: str) -> str:
    return f"{request.base_url}v1/jobs/{job_id}"


def matching(request: Request, jobs: list[StoredJob]) -> list[StoredJob]:
    """The jobs that pass a list's filters (`kind`, `status`, `q`, `parent`)."""
    kinds, statuses = choices(request, "kind"), choices(request, "status")
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


class JobsApi:
    """The handlers of the jobs API, on one emulator's state."""

    def __init__(self, emulator: Emulator) -> None:
        self.config = emulator.config
        self.store = emulator.store
        self.tokens = emulator.tokens
        self.runs = emulator.runs
        self._reads = 0  # server-fields-move and docshapes: reads so far
        self.categories = Categories(emulator)
        self._shuffle = random.Random(self.config.seed)  # unstable-order

    def _now(self) -> int:
        return int(self.config.clock())

    # --- rendering ------------------------------------------------------------------------------

    def _single(
        self, request: Request, stored: StoredJob, status: int = 200, *, whole: bool = True
    ) -> Response:
        """A one-job reply; `whole=False`: a summary unless `fields` asks for more."""
        view = view_of(request, whole=whole and not self.config.quirk("summary-replies"))
        job = self._shown(stored, job_href(request, stored.id), view)
        return json_reply(f'{{"status":{status},"type":"job","job":{job}}}', status)

    def _shown(self, stored: StoredJob, href: str, view: tuple[str, ...] | None) -> str:
        """One job's JSON as a reply shows it: whole (`view` None) or a summary with the
        `view` paths; deleted (status `deleted`) and with moving server fields per quirks."""
        moving = self.config.quirk("server-fields-move")
        shapes = self.config.quirk("docshapes")
        if view is None and not moving and not shapes and not stored.deleted:
            return stored.json_with_self_link(href)  # the fast path: no parsing, no dumping
        job = self._moved(stored.job) if moving else dict(stored.job)
        if shapes:
            self._reads += 1
            job = decorated(job, self._reads)
        if stored.deleted:
            job["status"] = "deleted"
        job["links"] = {"self": {"href": href}}
        return dumps(job if view is None else summary(job, view))

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

    # --- API handlers (after the prelude; each does its store work without awaiting) -------------

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            reply = self.tokens.grant(form)
        except GrantRefused as exc:
            body = {"error": exc.error, "error_description": exc.description}
            return json_reply(dumps(body), 400, {"Cache-Control": "no-store"})
        return json_reply(dumps(reply), 200, {"Cache-Control": "no-store"})

    async def list_jobs(self, request: Request, principal: Principal) -> Response:
        offset = int_param(request, "offset", 0, minimum=0)
        cap = QUIRK_MAX_LIMIT if self._q("page-cap-100") else MAX_LIMIT
        limit = min(int_param(request, "limit", DEFAULT_LIMIT, minimum=1), cap)
        sort = request.query_params.get("sort")
        sort_key = sort_order(sort) if sort else None
        indexed = self._indexed_order(request, sort)
        if indexed is not None:  # the usual listing: a slice of an index, O(page)
            order, descending = indexed
            total = self.store.live_count()
            page = self.store.live_page(offset, limit, order=order, descending=descending)
        else:
            jobs = matching(request, self._listed())
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
        view = view_of(request, whole=not self._q("summary-replies"))
        items = ",".join(self._shown(stored, f"{base}/{stored.id}", view) for stored in page)
        return json_reply(f'{{"status":200,"type":"jobs","jobs":[{items}],"meta":{dumps(meta)}}}')

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

    async def get_job(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["id"]
        stored = self.store.get(job_id)
        return not_found(job_id) if stored is None else self._single(request, stored)

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
            merged = deep_merge(base, body, copy_values=True)
        if self._q("nfc-names") and isinstance(merged.get("name"), str):
            merged["name"] = unicodedata.normalize("NFC", merged["name"])
        return rules.sorted_sets(merged) if self._q("reorder-sets") else merged

    def _documented(self, body: rules.RawJob) -> rules.RawJob:
        """A write's body as the documented server reads it (docshapes): an expanded
        connection is its id, a category named by name only is found or made."""
        if not self._q("docshapes"):
            return body
        return self.categories.named(undecorated(body))

    async def create_job(self, request: Request, principal: Principal) -> Response:
        body = rules.normalise_body(parse_json_object(await request.body(), required=True))
        body = self._documented(body)
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
        overrides = parse_json_object(await request.body(), required=False)
        job_id = request.path_params["id"]
        source = self.store.get(job_id)
        if source is None:
            return not_found(job_id)
        body = self._documented(rules.normalise_body(overrides))
        job = self._merge(rules.clone_base(source.job), body)
        rules.check(job)
        # The documented reply: a summary of the new job; the whole job takes a GET.
        return self._single(request, self._new_job(job, principal), self._created, whole=False)

    async def patch_job(self, request: Request, principal: Principal) -> Response:
        raw = await request.body()
        actions = [name for name in STATUS_AFTER_ACTION if flag(request.query_params.get(name))]
        if len(actions) > 1:
            raise BadRequest(f"send one of start, pause, resume, cancel at a time, not {actions}")
        body = parse_json_object(raw, required=False)
        job_id = request.path_params["id"]
        stored = self.store.get(job_id)
        if stored is None:
            return not_found(job_id)
        current = stored.job
        job = current
        if body and self._q("patch-needs-kind") and body.get("kind") != current.get("kind"):
            raise BadRequest(
                f"kind {body.get('kind')!r} does not match the job's kind "
                f"{current.get('kind')!r}; send the job's kind in every PATCH"
            )
        if body:
            merged = self._merge(current, self._documented(rules.normalise_patch(body)))
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

    async def delete_job(self, request: Request, principal: Principal) -> Response:
        job_id = request.path_params["id"]
        if not self.store.delete(job_id):
            return not_found(job_id)
        self.runs.deleted(job_id)
        if self._q("status-200"):
            return json_reply(dumps({"status": 200, "type": "job", "job": {"id": job_id}}))
        return Response(status_code=204)
