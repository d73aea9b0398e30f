"""A connection idle past `keepalive` is closed, not sent on: a server closing it at its own
keep-alive as our POST arrives would lose the POST (an unknown outcome, a search).

Against the emulator over a real socket: which connection each request went out on is read
from the slot's own transport (`SlotTransport.opened` counts the connections it opened).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jobspec.client import DryvIQClient
from jobspec.client._wire import SlotTransport
from jobspec.settings import PasswordLogin, Settings
from tests.helpers import make_job

pytestmark = pytest.mark.anyio


def _client(url: str, keepalive: float, clock: Callable[[], float] | None = None) -> DryvIQClient:
    settings = Settings(
        server=url,
        credentials=PasswordLogin("admin", SecretStr("admin")),
        concurrency=1,  # one slot: one connection
        keepalive=keepalive,
    )
    return DryvIQClient(settings) if clock is None else DryvIQClient(settings, clock=clock)


def _wire(api: DryvIQClient) -> SlotTransport:
    wire: Any = api._pools[0]._transport
    assert isinstance(wire, SlotTransport)
    return wire


async def test_an_idle_connection_is_not_reused_for_a_post(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    async with _client(emulator.url, keepalive=0.0) as api:
        await api.get_job(source)  # the token call and the GET: each on a new connection
        assert not _wire(api).is_open  # idle past 0 s: closed, nothing left to send a POST on
        opened = _wire(api).opened
        await api.clone(source, {"name": "clone"})  # so it went out on a new connection
        assert _wire(api).opened == opened + 1
        assert not _wire(api).is_open


async def test_a_connection_within_keepalive_is_reused(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    async with _client(emulator.url, keepalive=60.0) as api:
        await api.get_job(source)
        await api.clone(source, {"name": "clone"})
        assert _wire(api).opened == 1  # token, GET and POST on one connection
        assert _wire(api).is_open


async def test_a_connection_idle_past_keepalive_is_replaced(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    now = [1000.0]
    async with _client(emulator.url, keepalive=1.5, clock=lambda: now[0]) as api:
        await api.get_job(source)
        now[0] += 1.0  # within keepalive: reused
        await api.get_job(source)
        assert _wire(api).opened == 1
        now[0] += 1.6  # idle past keepalive: the POST gets a fresh connection
        await api.clone(source, {"name": "clone"})
        assert _wire(api).opened == 2


async def test_a_connection_the_server_closed_is_not_reused(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    async with _client(emulator.url, keepalive=60.0) as api:
        await api.get_job(source)
        wire = _wire(api)
        assert wire._writer is not None and wire._reader is not None
        wire._reader.feed_eof()  # what the loop does when the server's FIN arrives
        await api.get_job(source)
        assert wire.opened == 2


def test_the_slots_carry_the_configured_keepalive() -> None:
    api = _client("http://127.0.0.1:9/", keepalive=1.25)
    assert _wire(api)._keepalive == 1.25
    assert isinstance(api._pools[0], httpx.AsyncClient)
