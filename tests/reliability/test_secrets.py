"""Secrets stay secret: known, distinctive credentials never show up anywhere jobspec writes.

A dedicated emulator with its own password, client secret and tokens; every command runs as a
real process with debug logging (`-vv`), so stdout, stderr and the log are all captured. Then
every file in the workspace (plan files, state, journal, backup, lock) is searched too. The
tokens are the ones the emulator actually issued during the test (read from its token book).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobspec.emulator.config import EmulatorConfig
from jobspec.emulator.server import RunningEmulator, running_emulator
from tests.helpers import EmulatorHandle
from tests.reliability.campaign import TrialWorkspace, workload

USERNAME = "ops-reliability"
PASSWORD = "Pw-4c1d-SECRET-e9a7-horse-battery"
CLIENT_ID = "jobspec-reliability"
CLIENT_SECRET = "Cs-77b2-SECRET-0f3e-staple"
WRONG_PASSWORD = "Pw-wrong-SECRET-5b1c-nope"


@pytest.fixture(scope="module")
def secret_server() -> Iterator[RunningEmulator]:
    config = EmulatorConfig(
        username=USERNAME, password=PASSWORD, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    with running_emulator(config) as server:
        yield server


def issued_tokens(server: RunningEmulator) -> set[str]:
    """Every access and refresh token the emulator has issued (a test-only peek)."""
    book = server.app.state.emulator.tokens
    return set(book._access) | set(book._refresh)


def run(ws: TrialWorkspace, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`jobspec -vv ARGS` as a real process; (exit code, stdout + stderr)."""
    ws.extra_env.clear()
    ws.extra_env.update(env or {})
    process = ws.spawn("-vv", *args)
    stdout, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stdout + stderr, stdout + stderr
    return process.returncode, stdout + stderr


def test_no_secret_in_output_logs_plans_or_state(
    secret_server: RunningEmulator, tmp_path: Path
) -> None:
    with httpx.Client() as http:
        emulator = EmulatorHandle(secret_server.url, http)
        emulator.reset()
        ws = TrialWorkspace(root=tmp_path, emulator=emulator)
        workload(ws, 6, seed=11)
        password = {"JOBSPEC_USERNAME": USERNAME, "JOBSPEC_PASSWORD": PASSWORD}
        client = {
            "JOBSPEC_USERNAME": "",
            "JOBSPEC_PASSWORD": "",
            "JOBSPEC_CLIENT_ID": CLIENT_ID,
            "JOBSPEC_CLIENT_SECRET": CLIENT_SECRET,
        }
        output: list[str] = []

        def expect(code: int, *args: str, env: dict[str, str]) -> str:
            got, text = run(ws, *args, env=env)
            assert got == code, text
            output.append(text)
            return text

        expect(0, "validate", env=password)
        expect(2, "plan", "--detailed-exitcode", env=password)
        expect(0, "plan", "--format", "json", "--out", "plan.json", env=password)
        expect(0, "plan", "--format", "markdown", "--out", "plan.md.json", env=client)
        expect(0, "show", "plan.json", "--format", "markdown", env={})
        expect(0, "apply", "plan.json", env=client)
        expect(0, "apply", "--auto-approve", env=password)
        expect(0, "state", "list", env={})
        # a ready bearer token, then the same token once the server has revoked it
        form = {"grant_type": "password", "username": USERNAME, "password": PASSWORD}
        token = http.post(f"{emulator.url}connect/token", data=form).json()["access_token"]
        static = {"JOBSPEC_USERNAME": "", "JOBSPEC_PASSWORD": "", "JOBSPEC_TOKEN": token}
        expect(0, "plan", env=static)
        emulator.expire_tokens()
        assert "error:" in expect(1, "plan", env=static)
        # error paths: a wrong password, a wrong client secret, a server that is not there
        wrong = {**password, "JOBSPEC_PASSWORD": WRONG_PASSWORD}
        assert "error:" in expect(1, "plan", env=wrong)
        assert "error:" in expect(1, "apply", "--auto-approve", env=wrong)
        bad_client = {**client, "JOBSPEC_CLIENT_SECRET": WRONG_PASSWORD}
        assert "error:" in expect(1, "plan", env=bad_client)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        assert "error:" in expect(1, "plan", "--server", closed, env=password)
        # a secret put where it does not belong is refused without being echoed
        (ws.root / "jobspec.toml").write_text(f'password = "{PASSWORD}"\n', encoding="utf-8")
        assert "error:" in expect(1, "plan", env=password)

        secrets = {PASSWORD, CLIENT_SECRET, WRONG_PASSWORD, token, *issued_tokens(secret_server)}
        assert len(secrets) > 5  # the runs above were issued tokens of their own
        files = {
            path.name: path.read_bytes().decode("utf-8", "replace")
            for path in ws.root.rglob("*")
            if path.is_file() and path.name != "jobspec.toml"
        }
        assert {"plan.json", "plan.md.json", "jobspec.state.json"} <= set(files)
        assert "DEBUG" in "".join(output)  # the log was on
        for secret in secrets:
            for index, text in enumerate(output):
                assert secret not in text, f"a secret in the output of run {index}"
            for name, text in files.items():
                assert secret not in text, f"a secret in {name}"
