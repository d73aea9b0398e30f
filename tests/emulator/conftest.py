"""Fixtures for the emulator tests: an authenticated sync client on the live emulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import SSL_CONTEXT, EmulatorHandle


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    """A client on the (reset) live emulator, with a fresh admin bearer token."""
    headers = {"Authorization": f"Bearer {emulator.token()}"}
    with httpx.Client(
        base_url=emulator.url, headers=headers, timeout=10, verify=SSL_CONTEXT
    ) as client:
        yield client
