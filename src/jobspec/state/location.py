"""State locations that are PostgreSQL URLs: recognising them, and taking them apart.

Pure string work, kept apart from `postgres` so that settings can check a URL (a password
in `jobspec.toml` is refused) without importing the database driver.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from jobspec.errors import UsageError
from jobspec.scrub import is_secret_key, url_secrets

__all__ = ["DEFAULT_WORKSPACE", "PgLocation", "is_database_url", "parse_location"]

DEFAULT_WORKSPACE = "default"
URL_SCHEMES = ("postgresql://", "postgres://")
WORKSPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")


def is_database_url(location: str | os.PathLike[str]) -> bool:
    """True for a `postgresql://` or `postgres://` location (any case), False for a path."""
    return isinstance(location, str) and location.strip().lower().startswith(URL_SCHEMES)


@dataclass(frozen=True)
class PgLocation:
    """A state URL taken apart: what libpq gets, our workspace, and a form safe to print."""

    conninfo: str  # the URL without `workspace`: everything here is libpq's
    workspace: str
    shown: str  # the URL without any password, with the workspace: for messages
    has_password: bool  # a password in the user info or a `password=` parameter
    secrets: tuple[str, ...] = ()  # every secret the URL carries, for a `Scrubber`


def parse_location(url: str) -> PgLocation:
    """Split a libpq URI and its `workspace` parameter; `UsageError` if it is malformed.

    Only the parts jobspec needs are read (user info, query); hosts, ports and paths are
    left to libpq, which understands more forms (several hosts, socket directories) than a
    generic URL parser.
    """
    text = url.strip()
    if not is_database_url(text):
        raise UsageError("a PostgreSQL state location starts with postgresql:// or postgres://")
    scheme, _, rest = text.partition("://")
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostpart = netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    try:
        params = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        # Never echo the URL: it may hold a password.
        raise UsageError(
            "malformed query in the state URL",
            hint="write it as postgresql://user@host:port/db?workspace=NAME",
        ) from None
    workspaces = [value for key, value in params if key == "workspace"]
    if len(workspaces) > 1:
        raise UsageError("the state URL names `workspace` more than once")
    workspace = workspaces[0] if workspaces else DEFAULT_WORKSPACE
    if not WORKSPACE_RE.fullmatch(workspace):
        raise UsageError(
            f"workspace {workspace!r} in the state URL is not a valid name",
            hint="1 to 200 letters, digits and . _ : / @ + -, starting with a letter or digit",
        )
    libpq = [(key, value) for key, value in params if key != "workspace"]
    has_password = bool(colon) or any(key == "password" for key, _ in libpq)
    conninfo = f"{scheme}://{rest}" + (f"?{urlencode(libpq)}" if libpq else "")
    safe_netloc = f"{user}@{hostpart}" if at else hostpart
    # `password`, `sslpassword` and any other secret-named parameter never reach a message.
    safe_query = [(key, value) for key, value in libpq if not is_secret_key(key)]
    safe_query.append(("workspace", workspace))
    shown = f"{scheme}://{safe_netloc}{slash}{path}?{urlencode(safe_query, safe='/:@')}"
    return PgLocation(
        conninfo=conninfo,
        workspace=workspace,
        shown=shown,
        has_password=has_password,
        secrets=tuple(url_secrets(text)),
    )
