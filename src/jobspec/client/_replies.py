"""Reading replies at the boundary: server garbage becomes an `ApiError` naming the call.

What the server says is quoted only after the client's `Scrubber` has masked every known
secret, and only shortened: a hostile server may echo a password or a token back.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import httpx

from jobspec.endpoints import ServerConnection
from jobspec.errors import ApiError, AuthError, NotFoundError, OutcomeUnknown
from jobspec.model import JOB_ID_RE, LiveJob, MalformedJob
from jobspec.scrub import Scrubber, clean_unicode, shorten

NOT_FOUND_STATUSES = frozenset({404, 406})  # the vendor client reads 406 as "no such thing"
MAX_DETAILS = 5  # error descriptions quoted from one reply
SNIPPET_WINDOW = 4096  # bytes of a non-JSON reply scrubbed before its start is quoted


def reply(
    response: httpx.Response, call: str, *, scrub: Scrubber, ok: tuple[int, ...]
) -> dict[str, Any]:
    """The JSON object of a successful reply; `ApiError` for an error status or garbage.

    Invalid UTF-8 and lone surrogates (`"\\ud800"`) are replaced, so that nothing further on
    meets a string it cannot hash, write or print.
    """
    status = response.status_code
    if status not in ok:
        raise status_error(response, call, scrub)
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            f"server answered {media}, not JSON (status {status}){snippet(response, scrub)}",
            call=call,
            status=status,
        )
    try:
        body = parse_json(response)
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


def job_reply(
    response: httpx.Response, call: str, *, scrub: Scrubber, ok: tuple[int, ...]
) -> LiveJob:
    body = reply(response, call, scrub=scrub, ok=ok)
    raw = body.get("job")
    if raw is None and "id" in body and "name" in body:
        raw = body  # tolerated variant: a bare job without the envelope
    if raw is None:
        raise ApiError("reply has no `job` object", call=call, status=response.status_code)
    return live_job(raw, call, "the job", scrub)


class ConnectionPage(NamedTuple):
    """One page of `GET v1/connections`: the connections read, how many items it held, and
    whether the server says there are more."""

    connections: list[ServerConnection]
    held: int
    more: bool


def connections_reply(response: httpx.Response, call: str, *, scrub: Scrubber) -> ConnectionPage:
    """A page of connections (list key `connections`); items without an id are skipped, and a
    name or platform that is not text is taken as absent: they are only shown."""
    body = reply(response, call, scrub=scrub, ok=(200,))
    items = body.get("connections")
    if not isinstance(items, list):
        raise ApiError("reply has no `connections` list", call=call, status=response.status_code)
    found = []
    for item in items:
        conn_id = item.get("id") if isinstance(item, dict) else None
        if (type(conn_id) is not str and type(conn_id) is not int) or conn_id == "":
            continue
        name = item.get("name")
        platform = item.get("platform")
        if isinstance(platform, dict):
            platform = platform.get("id") or platform.get("name")
        found.append(
            ServerConnection(
                id=str(conn_id),
                name=clean_unicode(name) if isinstance(name, str) else None,
                platform=clean_unicode(platform) if isinstance(platform, str) else None,
            )
        )
    meta = body.get("meta")
    more = isinstance(meta, dict) and meta.get("has_more") is True
    return ConnectionPage(found, len(items), more)


def live_job(raw: Any, call: str, what: str, scrub: Scrubber) -> LiveJob:
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
    except MalformedJob as exc:
        raise ApiError(f"{what} in the reply ({job_id}) is malformed: {exc}", call=call) from exc


def skipped_job(raw: Any, problem: ApiError) -> str:
    """One skipped list item, named by what it has: its id and name, else the problem."""
    if isinstance(raw, dict):
        raw_id, name = raw.get("id"), raw.get("name")
        if raw_id is not None or name is not None:
            return f"id {raw_id!r:.50}, name {name!r:.50}"
    return problem.message.removeprefix(f"{problem.call}: ")


def status_error(response: httpx.Response, call: str, scrub: Scrubber) -> ApiError:
    status = response.status_code
    text = error_text(response, scrub)
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


def error_text(response: httpx.Response, scrub: Scrubber) -> str:
    """`STATUS Reason: description; …`, from `errors[].description` or OAuth's fields.

    Each piece is scrubbed whole before it is cut, so that no part of a secret survives a cut.
    """
    head = f"{response.status_code} {shorten(scrub(response.reason_phrase), 80)}".strip()
    try:
        body = parse_json(response)
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


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_json(response: httpx.Response) -> Any:
    """The reply's JSON; bytes that are not UTF-8 become U+FFFD instead of an error, and lone
    surrogates (`"\\ud800"`) become U+FFFD too.

    Only a `\\uD800`-`\\uDFFF` escape can put a surrogate into parsed JSON (decoding with
    "replace" leaves none), so the walk over every value runs only for a reply holding one.
    """
    text = response.content.decode("utf-8", "replace").removeprefix("\ufeff")
    value = json.loads(text)
    return clean_unicode(value) if SURROGATE_ESCAPE.search(text) else value


def snippet(response: httpx.Response, scrub: Scrubber) -> str:
    head = response.content[:SNIPPET_WINDOW].decode("utf-8", "replace")
    text = " ".join(scrub(head).split())
    return f": {text[:80]!r}" if text else ""


def describe(exc: Exception, scrub: Scrubber) -> str:
    text = shorten(scrub(str(exc)))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def outcome_unknown(call: str, what: str) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"outcome unknown ({what}): the request may have been carried out; it was not sent again",
        call=call,
        hint="look for the job it would have made before trying again "
        "(`jobspec plan` finds and adopts it)",
    )
