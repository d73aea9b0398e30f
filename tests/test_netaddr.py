"""is_loopback: the hosts the settings' plain-http check and the emulator's default-password
check let through, the union of the cases each had when they kept their own copy."""

from __future__ import annotations

import pytest

from jobspec.netaddr import is_loopback


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "127.8.9.10", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1"],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host) is True


@pytest.mark.parametrize(
    "host",
    [
        "",  # a URL without a host
        "0.0.0.0",  # every interface
        "::",
        "10.1.2.3",
        "10.0.0.5",
        "128.0.0.1",
        "dryviq.example.com",
        "localhost.example.com",
        "localhost.",
        "127.0.0.1.example.com",
        # not as a socket or urlsplit() writes a host: refused rather than guessed
        "LOCALHOST",
        " localhost",
        "[::1]",
        "127.1",
    ],
)
def test_other_hosts(host: str) -> None:
    assert is_loopback(host) is False
