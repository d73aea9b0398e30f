"""A connection idle past `keepalive` is closed, not sent on: a server closing it at its own
keep-alive as our POST arrives would lose the POST (an unknown outcome, a search).

Against the emulator over a real socket: which connection each request went out on is read
from the slot's own pool.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jobspec.client import DryvIQClient
from jobspec.settings import PasswordLogin, Settings
from tests.helpers import make_job

pytestmark = pytest.mark.anyio


def _client(url: str, keepalive: float) -> DryvIQClient:
    settings = Settings(
        server=url,
        credentials=PasswordLogin("admin", SecretStr("admin")),
        concurrency=1,  # one slot: one pool, one connection at a time
        keepalive=keepalive,
    )
    return DryvIQClient(settings)


def _connection(api: DryvIQClient) -> object:
    pool: Any = api._pools[0]._transport
    (connection,) = pool._pool.connections
    return connection


def _open(api: DryvIQClient) -> list[object]:
    pool: Any = api._pools[0]._transport
    return list(pool._pool.connections)


async def test_an_idle_connection_is_not_reused_for_a_post(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    async with _client(emulator.url, keepalive=0.0) as api:
        await api.get_job(source)
        assert _open(api) == []  # idle past 0 s: closed, nothing left to send a POST on
        await api.clone(source, {"name": "clone"})  # so it went out on a new connection
        assert _open(api) == []


async def test_a_connection_within_keepalive_is_reused(emulator: Any) -> None:
    (source,) = emulator.seed([make_job(name="source")])
    async with _client(emulator.url, keepalive=60.0) as api:
        await api.get_job(source)
        first = _connection(api)
        await api.clone(source, {"name": "clone"})
        assert _connection(api) is first


def test_the_pools_carry_the_configured_keepalive() -> None:
    api = _client("http://127.0.0.1:9/", keepalive=1.25)
    pool: Any = api._pools[0]._transport
    assert pool._pool._keepalive_expiry == 1.25
    assert isinstance(api._pools[0], httpx.AsyncClient)
