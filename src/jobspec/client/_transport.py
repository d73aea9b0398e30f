"""The httpx side of the client: its connection pools, where proxies apply, how it sends."""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies

import httpx

from jobspec import __version__
from jobspec.client._retry import Repeat
from jobspec.client._wire import SlotTransport
from jobspec.netaddr import is_loopback

CONNECT_TIMEOUT = 10.0


class Requester(Protocol):
    """The client's one way to send a call: auth, the concurrency bound and retries."""

    async def __call__(
        self,
        method: str,
        url: str,
        *,
        call: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        repeat: Repeat = Repeat.IDEMPOTENT,
        authorize: bool = True,
    ) -> tuple[httpx.Response, bool]: ...


def proxy_mounts(base: str) -> dict[str, httpx.AsyncBaseTransport | None] | None:
    """Where environment proxies (`HTTPS_PROXY`, `ALL_PROXY`, …) may be used: https only.

    None lets httpx honour them (TLS runs end to end through the proxy's tunnel). For plain
    http every proxy is bypassed: a loopback server gets the password in clear only because
    it never leaves the machine, and a proxy would take it off the machine.
    """
    parts = urlsplit(base)
    if parts.scheme == "https" and not is_loopback(parts.hostname or ""):
        return None
    return {"all://": None, "http://": None, "https://": None}


def http_client(
    *,
    transport: httpx.AsyncBaseTransport | None,
    timeout: httpx.Timeout,
    connections: int | None,
    keepalive: float,
    verify: ssl.SSLContext | bool = True,
    mounts: dict[str, httpx.AsyncBaseTransport | None] | None = None,
) -> httpx.AsyncClient:
    """One of the client's connection pools (`connections` None: the transport's own).

    A connection idle `keepalive` seconds is closed before the next request rather than sent
    on: a server closing it at its own keep-alive (uvicorn: 5 s) as our request arrives
    loses the request, and for a POST that is an unknown outcome.
    """
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=keepalive,
    )
    return httpx.AsyncClient(
        transport=transport,
        mounts=mounts,
        timeout=timeout,
        limits=limits,
        verify=verify,
        headers={"Accept": "application/json", "User-Agent": f"jobspec/{__version__}"},
        follow_redirects=False,
    )


def pools(
    base: str,
    *,
    timeout: float,
    concurrency: int,
    keepalive: float,
    transport: httpx.AsyncBaseTransport | None,
    clock: Callable[[], float] = time.monotonic,
) -> list[httpx.AsyncClient]:
    """One client per request slot, each on its own connection, or one client for an injected
    transport (which does its own pooling).

    httpcore's pool scans its connections (quadratically) on every request and reply, which at
    32 connections in one pool took about 40% of an apply's CPU. A slot owns its connection,
    so nothing queues. The connection is a `SlotTransport` unless an environment proxy may
    apply (https to a non-loopback server, see `proxy_mounts`, with a proxy set): httpx
    honours environment proxies only on its own transport, so that slot keeps httpx's.
    """
    limit = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
    mounts = proxy_mounts(base)
    if transport is not None:
        return [
            http_client(
                transport=transport,
                timeout=limit,
                connections=None,
                keepalive=keepalive,
                mounts=mounts,
            )
        ]
    tls = httpx.create_ssl_context(verify=True, trust_env=True)  # loaded once, shared
    own = mounts is not None or not _environment_proxies()

    def wire() -> SlotTransport | None:
        if not own:
            return None
        return SlotTransport(
            tls=tls, keepalive=keepalive, connect_timeout=limit.connect or timeout, clock=clock
        )

    return [
        http_client(
            transport=wire(),
            timeout=limit,
            connections=1,
            keepalive=keepalive,
            verify=tls,
            mounts=mounts,
        )
        for _ in range(concurrency)
    ]


def _environment_proxies() -> bool:
    """Is a proxy set that httpx would use (`HTTP(S)_PROXY`, `ALL_PROXY`; `NO_PROXY` aside)?"""
    return any(scheme in ("http", "https", "all") for scheme in getproxies())


Sender = Callable[[httpx.Request], Awaitable[httpx.Response]]


def sender(client: httpx.AsyncClient) -> Sender:
    """How a slot sends a built request: straight down its `SlotTransport` when no proxy can
    apply to any URL, else through `client.send` (which picks the proxy's transport).

    Straight down skips httpx's per-request client work (auth flows, redirects, cookies, event
    hooks), which the client uses none of: about a third of httpx's CPU per request. A client
    whose proxies httpx could not tell (a private attribute gone in a new httpx) goes through
    `send`: slower, never wrong.
    """
    wire = getattr(client, "_transport", None)
    mounts = getattr(client, "_mounts", None)
    if not isinstance(wire, SlotTransport) or mounts is None:
        return client.send
    if any(transport is not None for transport in mounts.values()):
        return client.send

    async def send(request: httpx.Request) -> httpx.Response:
        response = await wire.handle_async_request(request)
        await response.aread()
        return response

    return send


class Builder:
    """Builds the client's requests as `client.build_request` would, at a third of its CPU.

    `build_request` parses the URL three times when there are query parameters (about 90 µs
    a call); the query is encoded here as httpx encodes it (`urlencode`, spaces as `+`) and
    the URL parsed once. The client keeps no cookies: the API authenticates by token.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in client.headers.raw
        }
        self._extensions = {"timeout": client.timeout.as_dict()}

    def __call__(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> httpx.Request:
        if params:
            url = f"{url}?{urlencode(params)}"
        return httpx.Request(
            method,
            url,
            headers={**self._headers, **headers},
            json=json,
            data=form,
            extensions=self._extensions,
        )
