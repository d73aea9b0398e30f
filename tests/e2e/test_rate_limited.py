"""Apply against a rate-limiting server: the run slows to the server's pace, and finishes.

The emulator plays a gateway that allows a few dozen calls a second (`rate_limit`, a token
bucket answering 429 with Retry-After); 100 specs need several times that many calls. Before
the shared limiter, every request retried on its own schedule and some gave up.
"""

from __future__ import annotations

from typing import Any

from jobspec.model import deep_merge
from tests.e2e.conftest import Workspace
from tests.helpers import make_job

SPECS = 100


def _many_specs(ws: Workspace, count: int) -> None:
    addresses = [f"site-{n:03d}" for n in range(count)]
    bodies = []
    for address in addresses:
        own: dict[str, Any] = {
            "transfer": {
                "source": {"target": {"path": f"/Sources/{address}"}},
                "destination": {"target": {"path": f"/Sites/{address}"}},
            }
        }
        bodies.append(make_job(name=f"Source of {address}", **deep_merge(own, {})))
    for address, job_id in zip(addresses, ws.emulator.seed(bodies), strict=True):
        ws.sources[address] = job_id
        original = "delete" if address.endswith("7") else "manual"
        ws.specs[address] = {
            "source": job_id,
            "original": original,
            "overrides": {"name": f"Clone of {address}", "schedule": {"mode": "manual"}},
        }
    ws.write_specs()


def test_a_rate_limited_apply_of_100_specs_fails_no_address(ws: Workspace) -> None:
    _many_specs(ws, SPECS)
    ws.emulator.faults(rate_limit=60, rate_burst=10)
    result = ws.cli("apply", "--auto-approve", "--concurrency", "16", expect=None)
    assert result.exit_code == 0, result.output + result.stderr
    assert ", 0 failed." in result.stdout, result.stdout
    limited = ws.emulator.stats()["rate_limited"]
    assert limited >= 1, "the run never met the limit: the test shows nothing"
    assert f"the server throttled this run: {limited} of " in result.stderr
    ws.emulator.faults(rate_limit=0)
    ws.assert_converged()
