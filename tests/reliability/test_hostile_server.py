"""A hostile server: HTML, invalid JSON, a truncated body, a job missing its fields.

A tiny raw-asyncio HTTP/1.1 server on a free loopback port (a real socket; the emulator
always answers correctly) grants any token request, then answers every API call the chosen
way. `jobspec plan` must exit 1 with one `error:` line naming the call, and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Workspace

SOURCE = "c4d8c04a69224ef0bfaa2f8e920b8792"
TOKEN = json.dumps({"access_token": "t" * 43, "token_type": "Bearer", "expires_in": 3600})


def _reply(status: str, media: str, body: bytes, *, length: int | None = None) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {media}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _listing(job: dict[str, object]) -> bytes:
    meta = {"offset": 0, "limit": 1000, "total_count": 1}
    return _reply("200 OK", "application/json", json.dumps({"jobs": [job], "meta": meta}).encode())


def _single(job: dict[str, object]) -> bytes:
    return _reply("200 OK", "application/json", json.dumps({"job": job}).encode())


# Every API call gets the same answer, a list or a single job alike; except that a job the
# list lacks a name or an id for is also served that way alone (`SINGLE`): a listing skips
# what it cannot read (with a warning), and the plan confirms a needed job with a GET.
REPLIES = {
    "html": _reply("200 OK", "text/html", b"<html><body><h1>Sign in</h1></body></html>"),
    "invalid-json": _reply("200 OK", "application/json", b'{"jobs": [{"id": "c4d8'),
    "truncated": _reply("200 OK", "application/json", b'{"jobs": [{"id": "', length=4096),
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


@dataclass
class HostileServer:
    url: str
    mode: str = "html"
    requests: int = 0


async def _serve(server: HostileServer, ready: threading.Event, stop: asyncio.Event) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
        length = int(fields.get("content-length", "0"))
        if length:
            await reader.readexactly(length)
        server.requests += 1
        if " /connect/token " in lines[0]:
            writer.write(_reply("200 OK", "application/json", TOKEN.encode()))
        elif f" /v1/jobs/{SOURCE}" in lines[0] and server.mode in SINGLE:
            writer.write(SINGLE[server.mode])
        else:
            writer.write(REPLIES[server.mode])
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/"
    ready.set()
    async with listener:
        await stop.wait()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer(url="")
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        loop.run_until_complete(_serve(server, ready, stop))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield server
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


@pytest.mark.parametrize("mode", sorted(REPLIES))
def test_hostile_replies_are_one_clear_error_naming_the_call(
    ws: Workspace, hostile: HostileServer, mode: str
) -> None:
    hostile.mode = mode
    ws.specs["finance"] = {"source": SOURCE, "overrides": {"name": "Finance"}}
    ws.write_specs()
    result = ws.cli("plan", "--server", hostile.url, expect=None)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert re.match(r"error: GET v1/jobs\S*: ", errors[0]), errors[0]
    assert SAYS[mode] in errors[0]
    if mode in SINGLE:  # the listing skipped it and said so, then the GET failed clearly
        assert "warning: skipped 1 job(s) in the job list" in result.stderr
    assert hostile.requests >= 2  # the token, then the call
