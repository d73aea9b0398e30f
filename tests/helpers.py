"""Test helpers shared across the suite: realistic job bodies and a handle on a live emulator.

`make_job()` builds a transfer job body the way a DryvIQ admin would write one (no id).
`EmulatorHandle` wraps the emulator's `/_emulator/` controls with plain sync httpx calls; the
`emulator` fixture in `tests/conftest.py` hands one out, reset, to each test.
"""

from __future__ import annotations

import copy
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
CI_CLIENT_ID = "jobspec-ci"
CI_CLIENT_SECRET = "ci-secret"

# Building an SSL context costs tens of milliseconds per httpx client; share one.
SSL_CONTEXT = ssl.create_default_context()

BOX = "2aeae9329f7c4e0b8d5f1a6c3b7e9d01"
SHAREPOINT = "5dc531df6b2a4c8e9f3d7a1b0c5e8f42"


def merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A new dict: `patch` deep-merged over `base` (mappings key by key, the rest replaced)."""
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def is_plain_json(value: object) -> bool:
    """Only the exact JSON types, all the way down: no enum member posing as a string."""
    if isinstance(value, dict):
        return all(type(k) is str and is_plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_plain_json(item) for item in value)
    return value is None or type(value) in (str, int, float, bool)


def make_job(**overrides: Any) -> dict[str, Any]:
    """A realistic transfer job body without an id; `overrides` are deep-merged over it."""
    job: dict[str, Any] = {
        "kind": "transfer",
        "name": "Finance to SharePoint",
        "description": "",
        "disabled": False,
        "priority": 0,
        "category": {"id": -1, "name": "Default"},
        "scheduler": {"id": -1, "name": "default"},
        "schedule": {"mode": "auto"},
        "stop_policy": {"on_success": 2},
        "transfer": {
            "transfer_type": "sync",
            "source": {"connection": {"id": BOX}, "target": {"path": "/Finance"}},
            "destination": {
                "connection": {"id": SHAREPOINT},
                "target": {"path": "/Sites/Finance/Shared Documents"},
            },
            "conflict_resolution": "copy",
            "delete_propagation": ["ignore_destination"],
            "lock_propagation": "ignore",
            "permissions": {"policy": "none", "links": True, "failures": "none"},
            "versioning": {"preserve": "native", "select": "all"},
            "duplicate_names": "rename",
            "item_overwrite": "overwrite",
            "failure_policy": "continue",
            "audit_level": "info",
            "empty_containers": "create",
        },
    }
    return merged(job, overrides)


class EmulatorHandle:
    """The `/_emulator/` controls of one running emulator, over plain sync httpx."""

    def __init__(self, url: str, http: httpx.Client) -> None:
        self.url = url
        self._http = http

    @property
    def http(self) -> httpx.Client:
        """A plain client (no token) for calls a test wants to make by hand."""
        return self._http

    def _ok(self, response: httpx.Response) -> httpx.Response:
        response.raise_for_status()
        return response

    def reset(self) -> None:
        """Jobs, stats, tokens and faults back to the start-up state."""
        self._ok(self._http.post(f"{self.url}_emulator/reset"))

    def seed(self, jobs: list[dict[str, Any]]) -> list[str]:
        """Store `jobs` in one call (a job with an `id` keeps it); their ids in order."""
        reply = self._ok(self._http.post(f"{self.url}_emulator/jobs", json={"jobs": jobs}))
        ids: list[str] = reply.json()["ids"]
        return ids

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._ok(self._http.get(f"{self.url}_emulator/stats")).json()
        return stats

    def faults(self, **body: Any) -> None:
        """Update fault settings; keys as in `POST /_emulator/faults`."""
        self._ok(self._http.post(f"{self.url}_emulator/faults", json=body))

    def all_jobs(self, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Every job as stored, each with a `deleted` flag."""
        params = {"include_deleted": "1"} if include_deleted else {}
        reply = self._ok(self._http.get(f"{self.url}_emulator/jobs", params=params))
        jobs: list[dict[str, Any]] = reply.json()["jobs"]
        return jobs

    def token(self) -> str:
        """A fresh access token for admin/admin."""
        form = {"grant_type": "password", "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
        token: str = self._ok(self._http.post(f"{self.url}connect/token", data=form)).json()[
            "access_token"
        ]
        return token

    def runs(self, **body: Any) -> dict[str, Any]:
        """Update run settings (`run_seconds`, `auto_interval`, `cancel_interval`, `fail_names`,
        `warn_names`); returns all of them."""
        reply = self._ok(self._http.post(f"{self.url}_emulator/runs", json=body))
        settings: dict[str, Any] = reply.json()
        return settings

    def history(self, job_id: str) -> list[dict[str, Any]]:
        """The job's executions, newest first (`GET v1/jobs/{id}/history`, deleted jobs too)."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        reply = self._ok(self._http.get(f"{self.url}v1/jobs/{job_id}/history", headers=headers))
        executions: list[dict[str, Any]] = reply.json()["executions"]
        return executions

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (refresh tokens keep working)."""
        self._ok(self._http.post(f"{self.url}_emulator/tokens/expire"))


def wait_for(condition: Callable[[], bool], *, what: str, seconds: float = 60.0) -> None:
    """Poll `condition` until it holds; AssertionError after `seconds` (a bound for giving
    up, never a timing asserted: the test waits for a real event)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)
