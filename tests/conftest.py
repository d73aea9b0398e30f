"""Fixtures shared by the whole suite: a live emulator over a real socket, and an in-process one.

- `emulator_server` (session): one uvicorn emulator on a free loopback port; admin/admin,
  client `jobspec-ci` / `ci-secret`, no demo jobs.
- `emulator`: that server reset (jobs, stats, tokens, faults), as an `EmulatorHandle`.
- `quirky_emulator`: the same, from a second session server started with `--quirks all`
  (every stricter behaviour a real server may show).
- `emulator_app`: a fresh `(app, config)` for `httpx.ASGITransport`, no socket.
- `anyio_backend`: async tests (`@pytest.mark.anyio`) run on asyncio.
- `pg_url` (session): the throwaway PostgreSQL server `scripts/with-postgres` started
  (`JOBSPEC_TEST_PG`); skips without one, fails in CI. `pg_state_url`: a fresh workspace in it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from jobspec.emulator.app import create_app
from jobspec.emulator.config import QUIRKS, EmulatorConfig
from jobspec.emulator.server import RunningEmulator, running_emulator
from tests.helpers import CI_CLIENT_ID, CI_CLIENT_SECRET, SSL_CONTEXT, EmulatorHandle


def _ci_config(*, quirks: frozenset[str] = frozenset()) -> EmulatorConfig:
    return EmulatorConfig(client_id=CI_CLIENT_ID, client_secret=CI_CLIENT_SECRET, quirks=quirks)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[RunningEmulator]:
    with running_emulator(_ci_config()) as server:
        yield server


@pytest.fixture(scope="session")
def quirky_emulator_server() -> Iterator[RunningEmulator]:
    with running_emulator(_ci_config(quirks=frozenset(QUIRKS))) as server:
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
def quirky_emulator(
    quirky_emulator_server: RunningEmulator, _emulator_http: httpx.Client
) -> EmulatorHandle:
    handle = EmulatorHandle(quirky_emulator_server.url, _emulator_http)
    handle.reset()
    return handle


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("JOBSPEC_TEST_PG", "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail("JOBSPEC_TEST_PG is not set: in CI, scripts/test starts PostgreSQL")
        pytest.skip("no PostgreSQL: run ./scripts/test, or set JOBSPEC_TEST_PG to a database URL")
    return url


@pytest.fixture
def pg_state_url(pg_url: str) -> str:
    return f"{pg_url}{'&' if '?' in pg_url else '?'}workspace=test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def emulator_app() -> Iterator[tuple[Starlette, EmulatorConfig]]:
    config = _ci_config()
    app = create_app(config)
    yield app, config
    app.state.emulator.store.close()
