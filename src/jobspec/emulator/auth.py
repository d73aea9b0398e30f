"""The emulated OAuth2 token endpoint's bookkeeping: grants, issued tokens, bearer checks.

Pure bookkeeping with an injected clock: no HTTP here, so the rules (which grant needs what,
when a token stops working) are plain function calls in tests.

Refresh tokens are reusable until a reset (the emulator returns the same one on refresh), so
concurrent refreshes by one client never race each other. `expire_all()` ends every access
token at once but keeps refresh tokens, like a server whose tokens simply timed out.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from jobspec.emulator.config import EmulatorConfig

USER_ID = 1
CLIENT_ID = 2


@dataclass(frozen=True)
class Principal:
    """Who a token was issued to; its name becomes `created_by` / `modified_by` on jobs
    (strings in the vendor SDK's model)."""

    id: int
    name: str


class GrantRefused(Exception):
    """A token request the server refuses: `error` is the OAuth2 error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class BearerRefused(Exception):
    """A /v1 call without a usable bearer token."""


@dataclass
class _Issued:
    principal: Principal
    expires_at: float


class TokenBook:
    """Issues access and refresh tokens and checks bearer headers."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._access: dict[str, _Issued] = {}
        self._refresh: dict[str, Principal] = {}

    def clear(self) -> None:
        self._access.clear()
        self._refresh.clear()

    def expire_all(self) -> None:
        for issued in self._access.values():
            issued.expires_at = float("-inf")

    def grant(self, form: Mapping[str, str]) -> dict[str, object]:
        """The token reply for a form-encoded token request, or `GrantRefused`."""
        grant_type = form.get("grant_type", "")
        config = self._config
        with_refresh = False
        if grant_type == "password":
            username, password = form.get("username", ""), form.get("password", "")
            if not (
                secrets.compare_digest(username, config.username)
                and secrets.compare_digest(password, config.password)
            ):
                raise GrantRefused("invalid_grant", "invalid username or password")
            principal = Principal(USER_ID, config.username)
            with_refresh = "offline_access" in form.get("scope", "").split()
        elif grant_type == "refresh_token":
            found = self._refresh.get(form.get("refresh_token", ""))
            if found is None:
                raise GrantRefused("invalid_grant", "unknown or revoked refresh token")
            principal = found
            with_refresh = True
        elif grant_type == "client_credentials":
            if not config.client_credentials_enabled:
                raise GrantRefused(
                    "unsupported_grant_type",
                    "client_credentials is not enabled on this server "
                    "(start it with --client-id and --client-secret)",
                )
            assert config.client_id is not None and config.client_secret is not None
            if not (
                secrets.compare_digest(form.get("client_id", ""), config.client_id)
                and secrets.compare_digest(form.get("client_secret", ""), config.client_secret)
            ):
                raise GrantRefused("invalid_client", "invalid client_id or client_secret")
            principal = Principal(CLIENT_ID, config.client_id)
        else:
            raise GrantRefused(
                "unsupported_grant_type",
                f"grant_type {grant_type!r} is not supported; "
                "use password, refresh_token or client_credentials",
            )
        access_token = secrets.token_urlsafe(32)
        self._access[access_token] = _Issued(principal, config.clock() + config.token_ttl)
        reply: dict[str, object] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": config.token_ttl,
        }
        if with_refresh:
            refresh_token = (
                form["refresh_token"]
                if grant_type == "refresh_token"
                else secrets.token_urlsafe(32)
            )
            self._refresh[refresh_token] = principal
            reply["refresh_token"] = refresh_token
        return reply

    def check(self, authorization: str | None) -> Principal:
        """The principal behind an `Authorization` header, or `BearerRefused` saying why not."""
        if not authorization:
            raise BearerRefused("missing bearer token: send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BearerRefused("malformed Authorization header: expected Bearer <token>")
        issued = self._access.get(token.strip())
        if issued is None:
            raise BearerRefused("invalid bearer token")
        if self._config.clock() >= issued.expires_at:
            raise BearerRefused("bearer token expired")
        return issued.principal
