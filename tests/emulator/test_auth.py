"""The token endpoint's grants and the bearer check on /v1 calls."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette

from jobspec.cli import cli
from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig, check_exposure
from jobspec.errors import UsageError
from tests.emulator.support import PASSWORD_GRANT, FakeClock, asgi_client
from tests.helpers import CI_CLIENT_ID, CI_CLIENT_SECRET, EmulatorHandle


def _token(emulator: EmulatorHandle, **form: str) -> httpx.Response:
    return emulator.http.post(f"{emulator.url}connect/token", data=form)


def test_password_grant_returns_a_bearer_token_without_refresh_by_default(
    emulator: EmulatorHandle,
) -> None:
    reply = _token(emulator, **PASSWORD_GRANT, scope="profile roles")
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]
    assert "refresh_token" not in body


def test_offline_access_adds_a_refresh_token_that_works(emulator: EmulatorHandle) -> None:
    first = _token(emulator, **PASSWORD_GRANT, scope="profile offline_access").json()
    refreshed = _token(emulator, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200
    new_token = refreshed.json()["access_token"]
    assert new_token != first["access_token"]
    reply = emulator.http.get(
        f"{emulator.url}v1/jobs", headers={"Authorization": f"Bearer {new_token}"}
    )
    assert reply.status_code == 200


def test_client_credentials_grant(emulator: EmulatorHandle) -> None:
    reply = _token(
        emulator,
        grant_type="client_credentials",
        client_id=CI_CLIENT_ID,
        client_secret=CI_CLIENT_SECRET,
    )
    assert reply.status_code == 200
    token = reply.json()["access_token"]
    created = emulator.http.post(
        f"{emulator.url}v1/jobs",
        json={"name": "made by the CI client"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.json()["job"]["created_by"] == CI_CLIENT_ID


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "username": "admin", "password": "wrong"}, "invalid_grant"),
        ({"grant_type": "password", "username": "root", "password": "admin"}, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "made-up"}, "invalid_grant"),
        (
            {"grant_type": "client_credentials", "client_id": CI_CLIENT_ID, "client_secret": "x"},
            "invalid_client",
        ),
        ({"grant_type": "authorization_code", "code": "abc"}, "unsupported_grant_type"),
        ({}, "unsupported_grant_type"),
    ],
)
def test_refused_grants_answer_400_in_oauth_form(
    emulator: EmulatorHandle, form: dict[str, str], error: str
) -> None:
    reply = _token(emulator, **form)
    assert reply.status_code == 400
    body = reply.json()
    assert body["error"] == error
    assert body["error_description"]


@pytest.mark.anyio
async def test_client_credentials_are_off_unless_both_id_and_secret_are_configured() -> None:
    app = create_app(EmulatorConfig(client_id="only-an-id"))
    async with asgi_client(app, authenticated=False) as client:
        reply = await client.post(
            "connect/token",
            data={"grant_type": "client_credentials", "client_id": "only-an-id"},
        )
    assert reply.status_code == 400
    assert reply.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer not-a-token"}, "invalid"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "malformed"),
    ],
)
def test_calls_without_a_usable_token_get_401_with_errors_body(
    emulator: EmulatorHandle, headers: dict[str, str], words: str
) -> None:
    reply = emulator.http.get(f"{emulator.url}v1/jobs", headers=headers)
    assert reply.status_code == 401
    (error,) = reply.json()["errors"]
    assert words in error["description"]


def test_expire_control_ends_every_issued_token(emulator: EmulatorHandle) -> None:
    token = emulator.token()
    headers = {"Authorization": f"Bearer {token}"}
    assert emulator.http.get(f"{emulator.url}v1/jobs", headers=headers).status_code == 200
    emulator.expire_tokens()
    reply = emulator.http.get(f"{emulator.url}v1/jobs", headers=headers)
    assert reply.status_code == 401
    assert "expired" in reply.json()["errors"][0]["description"]
    fresh = {"Authorization": f"Bearer {emulator.token()}"}
    assert emulator.http.get(f"{emulator.url}v1/jobs", headers=fresh).status_code == 200


def test_refresh_tokens_survive_the_expire_control(emulator: EmulatorHandle) -> None:
    first = _token(emulator, **PASSWORD_GRANT, scope="offline_access").json()
    emulator.expire_tokens()
    refreshed = _token(emulator, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200


def _authorised(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_tokens_expire_after_their_ttl() -> None:
    clock = FakeClock()
    app: Starlette = create_app(EmulatorConfig(token_ttl=60, clock=clock))
    async with asgi_client(app, authenticated=False) as client:
        reply = await client.post("connect/token", data=PASSWORD_GRANT)
        assert reply.json()["expires_in"] == 60
        headers = _authorised(reply.json()["access_token"])
        clock.advance(59)
        assert (await client.get("v1/jobs", headers=headers)).status_code == 200
        clock.advance(1)
        expired = await client.get("v1/jobs", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"errors": [{"description": "bearer token expired"}]}


def test_default_password_is_refused_on_a_public_address() -> None:
    with pytest.raises(UsageError, match="default password"):
        check_exposure(EmulatorConfig(), host="0.0.0.0")
    check_exposure(EmulatorConfig(password="s3cret-enough"), host="0.0.0.0")
    check_exposure(EmulatorConfig(), host="127.0.0.1")


def test_cli_refuses_public_host_with_default_credentials_before_serving() -> None:
    result = CliRunner().invoke(cli, ["emulator", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0" in result.output
    assert "hint:" in result.output


def test_cli_help_does_not_import_the_emulator_stack() -> None:
    code = (
        "import sys; from jobspec.cli import cli; "
        "print(sorted(m for m in ('uvicorn', 'starlette', 'jobspec.emulator.app') "
        "if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
