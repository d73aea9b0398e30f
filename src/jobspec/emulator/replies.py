"""Reading requests and writing replies: the API's JSON and errors envelope, refused bodies,
and replies dropped on purpose (a fault) without a traceback in the log.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from jobspec.emulator.faults import ReplyDropped


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_reply(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def errors(status: int, *descriptions: str, headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"description": description} for description in descriptions]}
    return json_reply(dumps(body), status, headers)


class BadRequest(Exception):
    """A request the API refuses with 400; each problem becomes one error description."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class DroppedReply(Response):
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


def parse_json_object(raw: bytes, *, required: bool) -> dict[str, Any]:
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
    check_plain(body)
    return body


def check_plain(body: dict[str, Any]) -> None:
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


def flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("0", "false", "no", "off")


def int_param(request: Request, name: str, default: int, *, minimum: int) -> int:
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


def choices(request: Request, name: str) -> set[str] | None:
    values = [
        part.strip()
        for raw in request.query_params.getlist(name)
        for part in raw.split(",")
        if part.strip()
    ]
    return set(values) or None


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer in the API's errors envelope."""
    assert isinstance(exc, HTTPException)
    return errors(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")


def not_found(job_id: str) -> Response:
    return errors(404, f"job {job_id} not found")
