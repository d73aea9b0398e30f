"""Tokens: fetched lazily, cached, refreshed before they expire, one fetch at a time.

A refresh-token grant when the server gave one, else a fresh login; a static token
(`JOBSPEC_TOKEN`) is sent as it is and, once refused, is an `AuthError` with a hint. Token
calls are named only `POST connect/token`; their bodies and headers are never quoted, and
every secret (credentials, then each token issued) is taught to the client's scrubber.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from jobspec.client._replies import error_text, reply
from jobspec.client._transport import Requester
from jobspec.errors import ApiError, AuthError
from jobspec.scrub import Scrubber
from jobspec.settings import ClientLogin, Credentials, PasswordLogin, StaticToken

PASSWORD_SCOPE = "profile roles offline_access"
TOKEN_CALL = "POST connect/token"

_log = logging.getLogger("jobspec.client")

MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
"""Ten years: a token lifetime beyond it (a 400-digit `expires_in`) is taken as absent."""


@dataclass
class Token:
    value: str
    refresh_token: str | None = None
    refresh_at: float | None = None  # on the client's clock; None: renew only on a 401

    def due(self, now: float) -> bool:
        return self.refresh_at is not None and now >= self.refresh_at


class TokenKeeper:
    """The current token of one client, and how to get the next one."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        base: str,
        scrub: Scrubber,
        clock: Callable[[], float],
        request: Requester,
    ) -> None:
        self.credentials = credentials
        self._base = base
        self._scrub = scrub
        self._clock = clock
        self._request = request
        self._lock = asyncio.Lock()
        self._token: Token | None = None
        scrub.add(*secrets_of(credentials))
        if isinstance(credentials, StaticToken):
            self._token = Token(credentials.token.get_secret_value())

    async def access_token(self) -> str:
        token = self._token
        if token is not None and not token.due(self._clock()):
            return token.value
        async with self._lock:  # one fetch at a time; the others wait and reuse it
            token = self._token
            if token is None or token.due(self._clock()):
                token = self._token = await self._renew(token)
            return token.value

    async def reauthenticate(self, *, stale: str) -> None:
        """After a 401: log in again, unless another task already replaced the stale token."""
        async with self._lock:
            if self._token is None or self._token.value == stale:
                self._token = await self._login()

    def static_refusal(self, response: httpx.Response, call: str) -> AuthError | None:
        """The error for a 401 on a static token, which cannot be renewed; None otherwise."""
        creds = self.credentials
        if not isinstance(creds, StaticToken):
            return None
        return AuthError(
            f"the server refused the token: {error_text(response, self._scrub)}",
            call=call,
            status=401,
            hint=token_hint(creds),
        )

    async def _renew(self, token: Token | None) -> Token:
        if token is not None and token.refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
            try:
                return await self._token_call(form)
            except AuthError:
                _log.debug("refresh token refused; logging in again")
        return await self._login()

    async def _login(self) -> Token:
        creds = self.credentials
        if isinstance(creds, PasswordLogin):
            return await self._token_call(
                {
                    "grant_type": "password",
                    "username": creds.username,
                    "password": creds.password.get_secret_value(),
                    "scope": PASSWORD_SCOPE,
                }
            )
        if isinstance(creds, ClientLogin):
            return await self._token_call(
                {
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret.get_secret_value(),
                }
            )
        # A static token has nothing to log in with; reaching here means it was refused.
        raise AuthError("the token was refused", call=TOKEN_CALL, hint=token_hint(creds))

    async def _token_call(self, form: Mapping[str, str]) -> Token:
        call = TOKEN_CALL
        sent_at = self._clock()
        response, _ = await self._request(
            "POST", self._base + "connect/token", call=call, form=form, authorize=False
        )
        if response.status_code == 404:
            raise ApiError(
                "no token endpoint here (404)",
                call=call,
                status=404,
                hint=f"is {self._base} the root of a DryvIQ server? (JOBSPEC_SERVER or --server)",
            )
        if response.status_code in (400, 401, 403):
            refused = error_text(response, self._scrub)
            what = (
                "the refresh token"
                if form["grant_type"] == "refresh_token"
                else self.credentials.describe()
            )
            raise AuthError(
                f"the server refused {what}: {refused}",
                call=call,
                status=response.status_code,
                hint=f"check {' and '.join(self.credentials.env_names)}",
            )
        body = reply(response, call, scrub=self._scrub, ok=(200,))
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise ApiError("reply has no `access_token`", call=call, status=response.status_code)
        refresh = body.get("refresh_token")
        self._scrub.add(value, refresh if isinstance(refresh, str) else None)
        expires_in = body.get("expires_in")
        refresh_at = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            if 0 <= expires_in <= MAX_EXPIRES_IN:  # NaN too fails this: taken as absent
                refresh_at = sent_at + expires_in - min(60.0, 0.1 * expires_in)
            else:
                _log.warning(
                    "the token reply's expires_in is not a usable number of seconds "
                    "(0 to %d); taken as absent",
                    MAX_EXPIRES_IN,
                )
        return Token(value, refresh if isinstance(refresh, str) and refresh else None, refresh_at)


def secrets_of(credentials: Credentials) -> list[str]:
    if isinstance(credentials, PasswordLogin):
        return [credentials.password.get_secret_value()]
    if isinstance(credentials, ClientLogin):
        return [credentials.client_secret.get_secret_value()]
    return [credentials.token.get_secret_value()]


def token_hint(creds: StaticToken) -> str:
    return (
        f"the token in {creds.env_names[0]} may have expired: set a fresh one, or set "
        "JOBSPEC_USERNAME/JOBSPEC_PASSWORD so that jobspec can renew its own"
    )
