"""Helpers for the emulator tests: an in-process client and a clock that moves on demand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from tests.helpers import ADMIN_PASSWORD, ADMIN_USERNAME

PASSWORD_GRANT = {"grant_type": "password", "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def asgi_client(
    app: Starlette, *, authenticated: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling `app` in-process, with a bearer token unless told otherwise."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator/") as client:
        if authenticated:
            reply = await client.post("connect/token", data=PASSWORD_GRANT)
            reply.raise_for_status()
            client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        yield client
