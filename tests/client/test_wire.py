"""`SlotTransport` reads what a server may send, over a real loopback socket: chunked bodies,
interim replies, a closing server, and refuses what it must not send or cannot frame."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from jobspec.client._wire import SlotTransport

pytestmark = pytest.mark.anyio


class Canned:
    """A loopback server answering each request with the next canned reply, as raw bytes."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self.connections = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                reply = self.replies.pop(0)
                writer.write(reply)
                await writer.drain()
                if b"close" in reply.split(b"\r\n\r\n")[0].lower():
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    server = Canned([])
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/"
    async with listener:
        yield server


def _client() -> httpx.AsyncClient:
    wire = SlotTransport(tls=ssl.create_default_context(), keepalive=60.0, connect_timeout=5.0)
    return httpx.AsyncClient(transport=wire)


async def test_content_length_chunked_and_interim_replies_on_one_connection(
    canned: Canned,
) -> None:
    canned.replies = [
        b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Type: application/json\r\n\r\n{"a":1}',
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'3;ext=1\r\n{"b\r\n4\r\n":2}\r\n0\r\nTrailer: x\r\n\r\n',
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ]
    async with _client() as http:
        first = await http.get(canned.url + "v1/jobs?q=a%20b")
        second = await http.post(canned.url + "v1/jobs", json={"name": "x"})
        third = await http.delete(canned.url + "v1/jobs/1")
    assert (first.status_code, first.json()) == (200, {"a": 1})
    assert (second.status_code, second.json()) == (201, {"b": 2})
    assert (third.status_code, third.content) == (204, b"")
    assert canned.connections == 1
    assert canned.requests[0].startswith(b"GET /v1/jobs?q=a%20b HTTP/1.1\r\n")
    assert canned.requests[1].endswith(b'{"name":"x"}')


async def test_a_closing_reply_is_read_to_the_end_and_the_next_call_reconnects(
    canned: Canned,
) -> None:
    canned.replies = [
        b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nread to the end",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    ]
    async with _client() as http:
        assert (await http.get(canned.url)).text == "read to the end"
        assert (await http.get(canned.url)).text == "ok"
    assert canned.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # closed mid-body
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
        b"",  # closed without a word
    ],
)
async def test_an_unframeable_reply_is_a_protocol_error(canned: Canned, reply: bytes) -> None:
    canned.replies = [reply]  # then the server closes the connection
    async with _client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(canned.url)


async def test_a_control_character_in_a_header_is_refused_before_sending(canned: Canned) -> None:
    canned.replies = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]
    async with _client() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(canned.url, headers={"Authorization": "Bearer x\r\nX-Injected: 1"})
    assert canned.requests == []


async def test_nothing_listening_is_a_connect_error() -> None:
    async with _client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/")


def test_a_slot_sends_straight_down_its_wire_only_when_no_proxy_can_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jobspec.client._transport import pools, sender

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:3128")
    kwargs = {"timeout": 30.0, "concurrency": 2, "keepalive": 4.0, "transport": None}
    proxied = pools("https://dryviq.example/", **kwargs)  # type: ignore[arg-type]
    local = pools("http://127.0.0.1:8080/", **kwargs)  # type: ignore[arg-type]
    assert all(sender(pool) == pool.send for pool in proxied)  # httpx picks the proxy
    assert all(sender(pool) != pool.send for pool in local)  # proxies bypassed: the wire
    proxies = {pattern.pattern for pattern, t in proxied[0]._mounts.items() if t is not None}
    assert "https://" in proxies  # the environment proxy is honoured, as before

    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("ALL_PROXY")
    direct = pools("https://dryviq.example/", **kwargs)  # type: ignore[arg-type]
    assert all(sender(pool) != pool.send for pool in direct)  # no proxy set: the wire


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made by the openssl command line."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a certificate with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    make += ["-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [openssl, *make],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_is_verified_against_the_trusted_authorities(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    server = Canned([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=served)
    url = f"https://localhost:{listener.sockets[0].getsockname()[1]}/"
    async with listener:
        async with _client() as http:  # the system's authorities: a self-signed one fails
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(url)
        trusting = ssl.create_default_context(cafile=str(cert))
        wire = SlotTransport(tls=trusting, keepalive=60.0, connect_timeout=5.0)
        async with httpx.AsyncClient(transport=wire) as http:
            assert (await http.get(url)).text == "ok"


async def test_bytes_after_a_reply_are_not_read_as_the_next_one(canned: Canned) -> None:
    canned.replies = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"  # and, in the same write:
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh",
    ]
    async with _client() as http:
        assert (await http.get(canned.url)).text == "ok"
        assert (await http.get(canned.url)).text == "fresh"  # on a new connection
    assert canned.connections == 2
