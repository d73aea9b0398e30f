"""The vendor client's extra routes: job history, categories, bulk control, transfer stats.

The emulator moves no content, so what these report is the runs of each job (runs.py) and
zero counts; enough for the vendor CLI's commands to work against it.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from jobspec.emulator.auth import Principal
from jobspec.emulator.jobs import DEFAULT_LIMIT, MAX_LIMIT, STATUS_AFTER_ACTION, matching
from jobspec.emulator.replies import (
    BadRequest,
    dumps,
    flag,
    int_param,
    json_reply,
    not_found,
    parse_json_object,
)

if TYPE_CHECKING:
    from jobspec.emulator.app import Emulator


CSV_COLUMNS = ("id", "job_id", "status", "phase", "start_time", "end_time", "duration")


class VendorApi:
    """The handlers of the vendor routes, on one emulator's state."""

    def __init__(self, emulator: Emulator) -> None:
        self.store = emulator.store
        self.runs = emulator.runs

    async def job_history(self, request: Request, principal: Principal) -> Response:
        """The job's executions, newest first, in the list envelope; a deleted job's too."""
        job_id = request.path_params["id"]
        if self.store.get(job_id, include_deleted=True) is None:
            return not_found(job_id)
        offset = int_param(request, "offset", 0, minimum=0)
        limit = min(int_param(request, "limit", DEFAULT_LIMIT, minimum=1), MAX_LIMIT)
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
        return json_reply(dumps(body))

    async def jobs_history(self, request: Request, principal: Principal) -> Response:
        """The vendor client's history: `GET v1/jobs/history?job=ID[&execution=last]`,
        executions newest first under `job_executions`; every job's without `job`."""
        job_id = request.query_params.get("job")
        if job_id is not None and self.store.get(job_id, include_deleted=True) is None:
            return not_found(job_id)
        ids = [job_id] if job_id is not None else [s.id for s in self.store.everything()]
        last = request.query_params.get("execution") == "last"
        executions = []
        for one in ids:
            runs = self.runs.history(one)
            executions += runs[:1] if last else runs
        executions.sort(key=lambda run: (-int(run.get("start_time") or 0), -int(run["id"])))
        offset = int_param(request, "offset", 0, minimum=0)
        limit = min(int_param(request, "limit", DEFAULT_LIMIT, minimum=1), MAX_LIMIT)
        page = executions[offset : offset + limit]
        meta = {
            "offset": offset,
            "limit": limit,
            "total_count": len(executions),
            "has_more": offset + len(page) < len(executions),
        }
        body = {"status": 200, "type": "job_executions", "job_executions": page, "meta": meta}
        return json_reply(dumps(body))

    async def jobs_history_csv(self, request: Request, principal: Principal) -> Response:
        """`GET v1/jobs/history.csv?job=ID` (the vendor CLI's `jobs history --csv`): the same
        executions as `jobs_history`, as CSV with a header row."""
        job_id = request.query_params.get("job")
        if job_id is not None and self.store.get(job_id, include_deleted=True) is None:
            return not_found(job_id)
        ids = [job_id] if job_id is not None else [s.id for s in self.store.everything()]
        rows = [run for one in ids for run in self.runs.history(one)]
        rows.sort(key=lambda run: (-int(run.get("start_time") or 0), -int(run["id"])))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for run in rows:
            writer.writerow(["" if run.get(c) is None else run.get(c) for c in CSV_COLUMNS])
        return Response(out.getvalue(), media_type="text/csv")

    async def bulk_control(self, request: Request, principal: Principal) -> Response:
        """`PATCH v1/jobs?start=1&<list filters>` (pause, resume, cancel alike): the vendor
        client's bulk start and pause; answers how many jobs it touched."""
        raw = await request.body()
        actions = [name for name in STATUS_AFTER_ACTION if flag(request.query_params.get(name))]
        if len(actions) != 1:
            raise BadRequest("send exactly one of start, pause, resume, cancel")
        if parse_json_object(raw, required=False):
            raise BadRequest("bulk changes to job fields are not emulated; PATCH each job")
        jobs = matching(request, list(self.store.live()))
        for stored in jobs:
            self.runs.control(stored.id, actions[0])
        meta = {"total_count": len(jobs)}
        return json_reply(dumps({"status": 200, "type": "jobs", "jobs": [], "meta": meta}))

    async def transfer_stats(self, request: Request, principal: Principal) -> Response:
        """`GET v1/transfers/{id}/stats` (the vendor CLI's `jobs stats`): a timeline with one
        point per run; the emulator moves no content, so every count is 0."""
        job_id = request.path_params["id"]
        if self.store.get(job_id, include_deleted=True) is None:
            return not_found(job_id)
        zero = {"bytes": 0, "files": 0, "folders": 0}
        timeline = [
            {
                "timestamp": run["start_time"],
                "stats": {"transfer": {"source": dict(zero), "destination": dict(zero)}},
            }
            for run in reversed(self.runs.history(job_id))
        ]
        stats = {"id": job_id, "timeline": timeline}
        return json_reply(dumps({"status": 200, "type": "stats", "stats": stats}))
