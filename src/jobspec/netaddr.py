"""Network addresses: the one answer to "does this host stay on this machine?", and the one
form of a server's address that a state records.

Both the client's settings (plain http is accepted without `--insecure` only on loopback) and
the emulator (the default password is refused on an address others can reach) ask it, so it
lives here, below both, and imports nothing of jobspec.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}

LOCALHOST = "localhost"


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1: hosts only this machine can reach. Pure.

    `host` is written as a socket address or `urlsplit(url).hostname` gives it: lower case,
    IPv6 without brackets. Anything else (`LOCALHOST`, `[::1]`, `localhost.example.com`) is
    not loopback: a wrong "yes" would send credentials over the network or expose the default
    password, while a wrong "no" only asks for `--insecure` or `--password`.
    """
    if host == LOCALHOST:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_identity(server: str) -> str:
    """The form of a server root URL that a state records and compares. Pure.

    Scheme and host in lower case, the default port dropped, the path ending in `/`, so that
    `HTTPS://DryvIQ.example.com:443` and `https://dryviq.example.com/` are one server.
    """
    parts = urlsplit(server.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    shown = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        shown = f"{shown}:{port}"
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((scheme, shown, path, "", ""))
