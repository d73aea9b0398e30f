"""A hostile server: garbage replies, echoed secrets, trickled bodies, odd Unicode, proxies.

The server is `tests/reliability/hostile.py` (a raw-asyncio HTTP/1.1 server on a free loopback
port; the emulator always answers correctly). The first tests run `jobspec plan` in process
against replies that are not the API; the `CASES` run `jobspec -vv` as a real process with
distinctive secrets in its environment, and `hostile_trial` checks exit code, words, time,
the lock, the proxy, and that no secret appears in any encoding in the output or any file.
`bench/reliability.py` runs the same cases and writes their table to docs/reliability.md; the
three that retry to the end (7-8 s each) run only with `-m slow`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace
from tests.reliability.hostile import (
    CASES,
    SOURCE,
    Case,
    Request,
    answers,
    hostile_server,
    hostile_trial,
    reply,
)

TOKEN = json.dumps({"access_token": "t" * 43, "token_type": "Bearer", "expires_in": 3600})


def _listing(job: dict[str, object]) -> bytes:
    meta = {"offset": 0, "limit": 1000, "total_count": 1}
    return reply("200 OK", "application/json", json.dumps({"jobs": [job], "meta": meta}).encode())


def _single(job: dict[str, object]) -> bytes:
    return reply("200 OK", "application/json", json.dumps({"job": job}).encode())


# Every API call gets the same answer, a list or a single job alike; except that a job the
# list lacks a name or an id for is also served that way alone (`SINGLE`): a listing skips
# what it cannot read (with a warning), and the plan confirms a needed job with a GET.
REPLIES = {
    "html": reply("200 OK", "text/html", b"<html><body><h1>Sign in</h1></body></html>"),
    "invalid-json": reply("200 OK", "application/json", b'{"jobs": [{"id": "c4d8'),
    "truncated": reply("200 OK", "application/json", b'{"jobs": [{"id": "', length=4096),
    "missing-name": _listing({"id": SOURCE, "kind": "transfer"}),
    "missing-id": _listing({"name": "Source", "kind": "transfer"}),
}
SINGLE = {
    "missing-name": _single({"id": SOURCE, "kind": "transfer"}),
    "missing-id": _single({"name": "Source", "kind": "transfer"}),
}
# what the error must say, besides naming the call
SAYS = {
    "html": "server answered text/html, not JSON (status 200): '<html>",
    "invalid-json": "server answered invalid JSON (status 200, 22 bytes)",
    "truncated": "peer closed connection without sending complete message body",
    "missing-name": f"({SOURCE}) has no `name`",
    "missing-id": "has no valid `id`: None",
}


@pytest.mark.parametrize("mode", sorted(REPLIES))
def test_hostile_replies_are_one_clear_error_naming_the_call(ws: Workspace, mode: str) -> None:
    ws.specs["finance"] = {"source": SOURCE, "overrides": {"name": "Finance"}}
    ws.write_specs()

    def api(request: Request) -> bytes:
        if mode in SINGLE and request.path.startswith(f"/v1/jobs/{SOURCE}"):
            return SINGLE[mode]
        return REPLIES[mode]

    with hostile_server(
        answers(reply("200 OK", "application/json", TOKEN.encode()), api)
    ) as hostile:
        result = ws.cli("plan", "--server", hostile.url, expect=None)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert re.match(r"error: GET v1/jobs\S*: ", errors[0]), errors[0]
    assert SAYS[mode] in errors[0]
    if mode in SINGLE:  # the listing skipped it and said so, then the GET failed clearly
        assert "warning: skipped 1 job(s) in the job list" in result.stderr
    assert len(hostile.requests) >= 2  # the token, then the call


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else [])
        for case in CASES
    ],
)
def test_hostile_server_case(tmp_path: Path, case: Case) -> None:
    outcome = hostile_trial(tmp_path, case)
    assert outcome.requests >= 1 or case.server is not None
