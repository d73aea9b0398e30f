"""Test controls under `/_emulator/`, which a real server does not have: reset, seed and list
jobs, read the request counts, change faults and run settings, expire every token.

No auth, no faults, not counted; served unless `EmulatorConfig.controls` is off.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from jobspec.emulator import rules
from jobspec.emulator.faults import FaultsRejected
from jobspec.emulator.jobs import job_href
from jobspec.emulator.replies import BadRequest, dumps, errors, flag, json_reply, parse_json_object
from jobspec.emulator.runs import RunsRejected

if TYPE_CHECKING:
    from jobspec.emulator.app import Emulator


class Controls:
    """The `/_emulator/` handlers of one emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_emulator/reset", self.control_reset, methods=["POST"]),
            Route("/_emulator/jobs", self.control_seed, methods=["POST"]),
            Route("/_emulator/jobs", self.control_jobs, methods=["GET"]),
            Route("/_emulator/stats", self.control_stats, methods=["GET"]),
            Route("/_emulator/faults", self.control_faults, methods=["GET", "POST"]),
            Route("/_emulator/tokens/expire", self.control_expire, methods=["POST"]),
            Route("/_emulator/runs", self.control_runs, methods=["GET", "POST"]),
        ]

    async def control_reset(self, request: Request) -> Response:
        self.emulator.reset()
        return Response(status_code=204)

    async def control_seed(self, request: Request) -> Response:
        try:
            body = parse_json_object(await request.body(), required=True)
            raw_jobs = body.get("jobs")
            if not isinstance(raw_jobs, list):
                raise BadRequest('body must be {"jobs": [job, …]}')
            jobs = self._seed_jobs(raw_jobs)
        except BadRequest as exc:
            return errors(400, *exc.problems)
        stored = self.emulator.store.add_many(jobs)
        self.emulator.runs.adopt(stored)
        return json_reply(dumps({"ids": [entry.id for entry in stored]}), 201)

    def _seed_jobs(self, raw_jobs: list[Any]) -> list[rules.RawJob]:
        """Seeded jobs, validated like a create; a given id, status or timestamp is kept."""
        problems: list[str] = []
        jobs: list[rules.RawJob] = []
        seen: set[str] = set()
        now = int(self.emulator.config.clock())
        who = self.emulator.config.username
        for index, raw in enumerate(raw_jobs):
            if not isinstance(raw, dict):
                problems.append(f"jobs[{index}] must be a JSON object")
                continue
            body = rules.normalise_body(raw)
            problems += [f"jobs[{index}]: {problem}" for problem in rules.problems_in(body)]
            job_id = raw.get("id") or uuid.uuid4().hex
            if not isinstance(job_id, str) or not rules.JOB_ID_RE.match(job_id):
                problems.append(f"jobs[{index}]: id must be 32 lowercase hex digits")
            elif job_id in seen or self.emulator.store.exists(job_id):
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
        self.emulator.runs.tick()
        include_deleted = flag(request.query_params.get("include_deleted"))
        entries = (
            self.emulator.store.everything() if include_deleted else self.emulator.store.live()
        )
        jobs = [
            {**stored.job, "links": {"self": {"href": job_href(request, stored.id)}}}
            | {"deleted": stored.deleted}
            for stored in entries
        ]
        return json_reply(dumps({"jobs": jobs}))

    async def control_stats(self, request: Request) -> Response:
        stats: dict[str, object] = {
            "total": sum(self.emulator.stats.values()),
            "requests": dict(self.emulator.stats),
        }
        if self.emulator.faults.limited:  # requests the rate limit refused (`rate_limit`)
            stats["rate_limited"] = self.emulator.faults.limited
        return json_reply(dumps(stats))

    async def control_faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = parse_json_object(await request.body(), required=True)
                self.emulator.faults.update(body)
            except BadRequest as exc:
                return errors(400, *exc.problems)
            except FaultsRejected as exc:
                return errors(400, *exc.problems)
        return json_reply(dumps(self.emulator.faults.settings.as_json()))

    async def control_runs(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = parse_json_object(await request.body(), required=True)
                self.emulator.runs.tick()  # what was due under the old settings happens first
                self.emulator.runs.settings = self.emulator.runs.settings.updated(body)
            except BadRequest as exc:
                return errors(400, *exc.problems)
            except RunsRejected as exc:
                return errors(400, *exc.problems)
        return json_reply(dumps(self.emulator.runs.settings.as_json()))

    async def control_expire(self, request: Request) -> Response:
        self.emulator.tokens.expire_all()
        return Response(status_code=204)
