"""A workspace for end-to-end runs: spec files, a state, and the emulator over a socket.

`ws` runs every test twice: with a state file, and with a PostgreSQL workspace of its own
(`JOBSPEC_STATE`; skipped where no test database is available).

Commands run in process through click's runner (fast), or as a real `jobspec` subprocess when
a test needs to kill it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jobspec.api import Api
from jobspec.cli import cli
from jobspec.client import DryvIQClient
from jobspec.commands import apply as apply_cmd
from jobspec.model import deep_merge
from jobspec.settings import load_settings
from jobspec.spec import collect_problems
from jobspec.state import StateStore, open_state_store
from tests.helpers import EmulatorHandle, make_job

MUTATING_ROUTES = ("POST /v1/jobs/{id}/clone", "PATCH /v1/jobs/{id}", "DELETE /v1/jobs/{id}")


@dataclass
class Workspace:
    root: Path
    emulator: EmulatorHandle
    state_url: str | None = None  # a postgresql:// workspace; None: the state file
    sources: dict[str, str] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            "JOBSPEC_SERVER": self.emulator.url,
            "JOBSPEC_USERNAME": "admin",
            "JOBSPEC_PASSWORD": "admin",
            "JOBSPEC_CLONE_SETTLE": "1",
            "NO_COLOR": "1",
            **({"JOBSPEC_STATE": self.state_url} if self.state_url else {}),
        }

    @property
    def state_path(self) -> Path:
        return self.root / "jobspec.state.json"

    def seed_source(self, address: str, **changes: Any) -> str:
        """A live job to clone, named after the address so tests can tell them apart.

        Each source syncs folders of its own: clones on schedule mode auto beside other
        addresses' kept originals are then no transfer conflict (jobspec/conflicts.py).
        """
        own = {
            "transfer": {
                "source": {"target": {"path": f"/Sources/{address}"}},
                "destination": {"target": {"path": f"/Sites/{address}"}},
            }
        }
        body = make_job(name=f"Source of {address}", **deep_merge(own, changes))
        (job_id,) = self.emulator.seed([body])
        self.sources[address] = job_id
        return job_id

    def add_spec(self, address: str, *, original: str = "manual", **overrides: Any) -> None:
        if address not in self.sources:
            self.seed_source(address)
        body = deep_merge({"name": f"Clone of {address}"}, overrides)
        self.specs[address] = {
            "source": self.sources[address],
            "original": original,
            "overrides": body,
        }
        self.write_specs()

    def write_specs(self) -> None:
        folder = self.root / "specs"
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
        document = {"version": 1, "jobs": self.specs}
        (folder / "jobs.yaml").write_text(json.dumps(document, indent=2), encoding="utf-8")

    def cli(self, *args: str, expect: int | None = 0, input: str | None = None) -> Result:
        """Run `jobspec ARGS` in process, in the workspace directory; `input` is its stdin."""
        runner = CliRunner()
        cwd = Path.cwd()
        os.chdir(self.root)
        try:
            result = runner.invoke(
                cli, list(args), env=self.env, input=input, catch_exceptions=False
            )
        finally:
            os.chdir(cwd)
        if expect is not None:
            assert result.exit_code == expect, result.output + result.stderr
        return result

    def apply_on(
        self,
        store: StateStore,
        *,
        concurrency: int = 8,
        wrap: Callable[[DryvIQClient], Api] | None = None,
    ) -> apply_cmd.ApplyOutcome:
        """`jobspec apply --auto-approve` in process, on a store the test built (a seam);
        `wrap` puts a test's own `Api` around the real client (another seam)."""
        # the client's bound too, as `--concurrency` sets both: with the client's default of
        # 8 requests in flight, `concurrency=1` would still send two clones at once
        settings = load_settings(
            env={**os.environ, **self.env}, config_path=None, concurrency=concurrency
        )
        desired, problems = collect_problems(self.root / "specs")
        assert not problems, problems
        options = apply_cmd.ApplyOptions(concurrency=concurrency, settle=settings.clone_settle)

        async def run() -> apply_cmd.ApplyOutcome:
            async with DryvIQClient(settings) as client:
                api = wrap(client) if wrap else client
                return await apply_cmd.apply(api, store, desired=desired, options=options)

        return asyncio.run(run())

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """`jobspec ARGS` as a real process (for SIGKILL tests)."""
        return subprocess.Popen(
            [sys.executable, "-m", "jobspec.cli", *args],
            cwd=self.root,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def mutations(self) -> int:
        requests = self.emulator.stats()["requests"]
        return sum(requests.get(route, 0) for route in MUTATING_ROUTES)

    def store(self) -> StateStore:
        return open_state_store(self.state_url or self.state_path)

    def state(self) -> dict[str, Any]:
        current = self.store().read()
        return {address: entry for address, entry in current.entries.items()}

    def journal_records(self) -> list[dict[str, Any]]:
        """The journal's committed records now (a line being written is skipped)."""
        if self.state_url is not None:
            from tests.pg.support import journal_records

            return journal_records(self.state_url)
        journal = self.state_path.with_name(self.state_path.name + ".journal")
        if not journal.exists():
            return []
        records = []
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written right now
                continue
        return records

    def assert_converged(self) -> None:
        """Exactly one live clone per spec, originals retired, state equal to the server."""
        jobs = self.emulator.all_jobs(include_deleted=True)
        live = {job["id"]: job for job in jobs if not job["deleted"]}
        names = Counter(job["name"] for job in live.values())
        state = self.state()
        assert set(state) == set(self.specs)
        for address, spec in self.specs.items():
            name = spec["overrides"]["name"]
            assert names[name] == 1, f"{address}: {names[name]} live jobs named {name!r}"
            entry = state[address]
            assert entry.clone_id in live, f"{address}: state names a clone that is not live"
            assert live[entry.clone_id]["name"] == name
            original = live.get(spec["source"])
            if spec["original"] == "delete":
                assert original is None, f"{address}: original still live"
            elif spec["original"] == "manual":
                assert original is not None and original["schedule"]["mode"] == "manual"
        clones_made = sum(1 for job in jobs if job["name"].startswith("Clone of "))
        live_clones = sum(1 for job in live.values() if job["name"].startswith("Clone of "))
        assert clones_made == live_clones, "a clone was made and then deleted: a duplicate"
        replan = self.cli("plan", "--detailed-exitcode", expect=0)
        assert replan.stdout.startswith("No changes.")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every `ws` test runs on a state file and in PostgreSQL, against the default emulator;
    tests marked `quirks` run a third time, on a state file against `--quirks all`."""
    if "ws" in metafunc.fixturenames:
        variants = ["file", "postgresql"]
        if metafunc.definition.get_closest_marker("quirks"):
            variants.append("quirks")
        metafunc.parametrize("ws", variants, indirect=True)


@pytest.fixture
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Workspace:
    url = request.getfixturevalue("pg_state_url") if request.param == "postgresql" else None
    server = "quirky_emulator" if request.param == "quirks" else "emulator"
    emulator: EmulatorHandle = request.getfixturevalue(server)
    return Workspace(root=tmp_path, emulator=emulator, state_url=url)


def standard_specs(ws: Workspace) -> None:
    """Three addresses, one per `original` policy: 3 clones, 1 patch, 1 delete to apply."""
    ws.add_spec("finance", original="manual", transfer={"lock_propagation": "mirror_lock"})
    ws.add_spec("hr", original="delete", schedule={"mode": "manual"})
    ws.add_spec("sales", original="keep", schedule={"mode": "manual"})
