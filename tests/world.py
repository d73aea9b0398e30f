"""World: specs on disk, a state file and the emulator in process, for the command tests.

Shared by the command, adoption and ownership tests; a helper module, not a test module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from jobspec.client import DryvIQClient
from jobspec.emulator.app import create_app
from jobspec.emulator.config import EmulatorConfig
from jobspec.model import DesiredJob
from jobspec.settings import PasswordLogin, Settings
from jobspec.spec import load_specs
from jobspec.state import FileStateStore
from tests.helpers import make_job

BASE = "http://emulator.test/"
MUTATIONS = ("POST /v1/jobs/{id}/clone", "PATCH /v1/jobs/{id}", "DELETE /v1/jobs/{id}")


class World:
    """Specs on disk, a state file, and the emulator in process behind one transport."""

    def __init__(self, root: Path, app: Starlette) -> None:
        self.root = root
        self.transport = httpx.ASGITransport(app=app)
        self.store = FileStateStore(root / "jobspec.state.json")
        self.sources: dict[str, str] = {}

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(transport=self.transport, base_url=BASE) as http:
            reply = await http.request(method, path, **kwargs)
            reply.raise_for_status()
            return reply.json()

    async def seed(self, address: str) -> str:
        body = make_job(
            name=f"Source of {address}",
            transfer={"destination": {"target": {"path": f"/Sites/{address}"}}},
        )
        (job_id,) = (await self.control("POST", "_emulator/jobs", json={"jobs": [body]}))["ids"]
        self.sources[address] = job_id
        return str(job_id)

    def write_specs(self, **originals: str) -> dict[str, DesiredJob]:
        jobs = {
            address: {
                "source": self.sources[address],
                "original": original,
                "overrides": {"name": f"Clone of {address}", "schedule": {"mode": "manual"}},
            }
            for address, original in originals.items()
        }
        folder = self.root / "specs"
        folder.mkdir(exist_ok=True)
        document = json.dumps({"version": 1, "jobs": jobs})
        (folder / "jobs.yaml").write_text(document, encoding="utf-8")
        return load_specs(folder)

    @asynccontextmanager
    async def api(self) -> AsyncIterator[DryvIQClient]:
        settings = Settings(server=BASE, credentials=PasswordLogin("admin", SecretStr("admin")))
        async with DryvIQClient(settings, transport=self.transport) as client:
            yield client

    async def mutations(self) -> int:
        requests = (await self.control("GET", "_emulator/stats"))["requests"]
        return sum(requests.get(route, 0) for route in MUTATIONS)

    async def jobs(self) -> dict[str, dict[str, Any]]:
        listed = await self.control("GET", "_emulator/jobs")
        return {job["id"]: job for job in listed["jobs"] if not job["deleted"]}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    app = create_app(EmulatorConfig())
    yield World(tmp_path, app)
    app.state.emulator.store.close()
