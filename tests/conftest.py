"""Fixtures shared by the whole suite: a live emulator over a real socket, and an in-process one.

- `emulator_server` (session): one uvicorn emulator on a free loopback port; admin/admin,
  client `jobspec-ci` / `ci-secret`, no demo jobs.
- `emulator`: that server reset (jobs, stats, tokens, faults), as an `EmulatorHandle`.
- `emulator_app`: a fresh `(app, config)` for `httpx.ASGITransport`, no socket.
- `anyio_backend`: async tests (`@pytest.mark.anyio`) run on asyncio.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.server import RunningEmulator, running_emulator
from tests.helpers import CI_CLIENT_ID, CI_CLIENT_SECRET, SSL_CONTEXT, EmulatorHandle


def _ci_config() -> EmulatorConfig:
    return EmulatorConfig(client_id=CI_CLIENT_ID, client_secret=CI_CLIENT_SECRET)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[RunningEmulator]:
    with running_emulator(_ci_config()) as server:
        yield server


@pytest.fixture(scope="session")
def _emulator_http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, verify=SSL_CONTEXT) as http:
        yield http


@pytest.fixture
def emulator(emulator_server: RunningEmulator, _emulator_http: httpx.Client) -> EmulatorHandle:
    handle = EmulatorHandle(emulator_server.url, _emulator_http)
    handle.reset()
    return handle


@pytest.fixture
def emulator_app() -> Iterator[tuple[Starlette, EmulatorConfig]]:
    config = _ci_config()
    app = create_app(config)
    yield app, config
    app.state.emulator.store.close()
