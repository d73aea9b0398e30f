"""`SlotTransport`: one keep-alive HTTP/1.1 connection on asyncio streams, under httpx.

httpx stays the client's API (requests are built, and replies decoded, by httpx); only the
wire below it is ours. httpx's own transport (httpcore's pool, anyio's cancel scopes, h11's
state machine) cost about 0.5 ms of CPU per request, about a third of an apply's; a request
slot owns its connection, so there is no pool to scan and nothing to lock.

Every byte from the server is untrusted: the status line and each header line are bounded
(`LINE_LIMIT`), so are the number of headers, and the body is framed by Content-Length or
chunked encoding (or, lacking both, read to the end and the connection closed); anything
else is an `httpx.RemoteProtocolError`. Errors are httpx's, with httpx's meaning for the
client's retries: `ConnectError`/`ConnectTimeout` before a byte of the request was sent,
`WriteError`, `ReadError` or `RemoteProtocolError` after (the outcome may be unknown).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable

import httpx

LINE_LIMIT = 65_536
"""The longest status or header line, and the whole head, a server may send."""
MAX_HEADERS = 200
_NO_BODY = frozenset({204, 304})
_HEX = b"0123456789abcdefABCDEF"
_CLOSED = "the server closed the connection mid-reply"
_SHORT_BODY = "peer closed connection without sending complete message body"


class _Unframed(Exception):
    """A reply that cannot be read as HTTP/1.1: the text says what was wrong."""


class SlotTransport(httpx.AsyncBaseTransport):
    """One connection, used by one request at a time (its request slot's).

    A connection idle longer than `keepalive` seconds is closed before the next request
    rather than sent on: a server that closes it at its own keep-alive (uvicorn: 5 s) as a
    POST arrives loses the POST, an unknown outcome. So is one the server has closed.
    """

    def __init__(
        self,
        *,
        tls: ssl.SSLContext,
        keepalive: float,
        connect_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tls = tls
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._clock = clock
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._origin: tuple[str, str, int] | None = None
        self._idle_since = 0.0
        self._busy = False
        self.opened = 0
        """Connections opened so far (tests read it to see which one a request went out on)."""

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._busy:  # a slot sends one request at a time; two would interleave bytes
            raise RuntimeError("SlotTransport: one request at a time")
        self._busy = True
        try:
            return await self._exchange(request)
        except BaseException:
            self._drop()  # cancelled or failed mid-exchange: the connection's state is unknown
            raise
        finally:
            self._busy = False

    async def aclose(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):  # closing: nothing left to lose
                await writer.wait_closed()

    # --- one exchange ------------------------------------------------------------------------

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        host = url.raw_host.decode("ascii")  # IDNA-encoded, as DNS and SNI want it
        origin = (scheme, host, url.port or (443 if scheme == "https" else 80))
        if self._writer is not None and not self._reusable(origin):
            self._drop()
        if self._writer is None:
            await self._connect(origin, request)
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        data = _head(request) + await request.aread()
        try:
            writer.write(data)
            await writer.drain()
        except (OSError, ssl.SSLError) as exc:
            raise httpx.WriteError(_text(exc), request=request) from exc
        try:
            status, headers, body, keep = await _response(reader, request.method)
        except _Unframed as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError(_SHORT_BODY, request=request) from exc
        except ValueError as exc:  # asyncio's: a line over `LINE_LIMIT`
            raise httpx.RemoteProtocolError(
                f"a reply line longer than {LINE_LIMIT:,} bytes", request=request
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ReadError(_text(exc), request=request) from exc
        if keep and self._keepalive > 0:
            self._idle_since = self._clock()
        else:
            self._drop()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _reusable(self, origin: tuple[str, str, int]) -> bool:
        assert self._reader is not None and self._writer is not None
        return (
            origin == self._origin
            and self._clock() - self._idle_since <= self._keepalive
            and not self._reader.at_eof()
            and not self._writer.is_closing()
            and not getattr(self._reader, "_buffer", None)  # bytes nobody asked for: hostile
        )

    async def _connect(self, origin: tuple[str, str, int], request: httpx.Request) -> None:
        scheme, host, port = origin
        timeouts = request.extensions.get("timeout") or {}
        limit = timeouts.get("connect") or self._connect_timeout
        tls = self._tls if scheme == "https" else None
        try:
            async with asyncio.timeout(limit):
                self._reader, self._writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=LINE_LIMIT
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"no connection within {limit:g} s", request=request
            ) from exc
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, TLS (verify)
            raise httpx.ConnectError(_text(exc), request=request) from exc
        self._origin = origin
        self.opened += 1

    def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _head(request: httpx.Request) -> bytes:
    """The request line and headers; a CR, LF or NUL in any of them is refused, not sent."""
    target = request.url.raw_path
    fields = request.headers.raw
    seen = b"".join([target, *(name + value for name, value in fields)])
    if b"\r" in seen or b"\n" in seen or b"\0" in seen:
        raise httpx.LocalProtocolError("a header or the URL holds a control character")
    parts = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in fields:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


async def _response(
    reader: asyncio.StreamReader, method: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """Status, headers, body and whether the connection may carry another request."""
    while True:
        status, version = _status(await reader.readline())
        headers = await _headers(reader)
        if not 100 <= status < 200:
            break
        if status == 101:
            raise _Unframed("the server switched protocols")
    connection = b",".join(v for n, v in headers if n.lower() == b"connection").lower()
    keep = version == b"HTTP/1.1" and b"close" not in connection
    if method == "HEAD" or status in _NO_BODY:
        return status, headers, b"", keep
    codings = b",".join(v for n, v in headers if n.lower() == b"transfer-encoding").lower()
    lengths = {v.strip() for n, v in headers if n.lower() == b"content-length"}
    if codings:
        if codings.rsplit(b",", 1)[-1].strip() != b"chunked":
            return status, headers, await reader.read(), False  # framed by the close
        return status, headers, await _chunked(reader), keep
    if lengths:
        length = lengths.pop()
        if lengths or not length.isdigit() or len(length) > 18:
            raise _Unframed("an unusable Content-Length")
        return status, headers, await reader.readexactly(int(length)), keep
    return status, headers, await reader.read(), False


def _status(line: bytes) -> tuple[int, bytes]:
    if not line:
        raise _Unframed("Server disconnected without sending a response.")
    if not line.endswith(b"\n"):
        raise _Unframed(_CLOSED)
    version, _, rest = line.rstrip(b"\r\n").partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise _Unframed("not an HTTP/1.1 status line")
    return int(code), version


async def _headers(reader: asyncio.StreamReader) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    size = 0
    while True:
        line = await reader.readline()
        size += len(line)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n"):
            raise _Unframed(_CLOSED)
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name:
            raise _Unframed("a malformed header line")
        headers.append((name, value.strip()))
        if len(headers) > MAX_HEADERS or size > LINE_LIMIT:
            raise _Unframed("too many header bytes")


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = await reader.readline()
        if not line.endswith(b"\n"):
            raise _Unframed(_CLOSED)
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or size_text.strip(_HEX):
            raise _Unframed("an unusable chunk size")
        size = int(size_text, 16)
        if size == 0:
            await _headers(reader)  # trailers: read, not used
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        if await reader.readline() not in (b"\r\n", b"\n"):
            raise _Unframed("a chunk without its line end")
