"""Apply against a rate-limiting server: the run slows to the server's pace, and finishes.

The emulator plays a gateway that allows a few dozen calls a second (`rate_limit`, a token
bucket answering 429 with Retry-After); 100 specs need several times that many calls. Before
the shared limiter, every request retried on its own schedule and some gave up.
"""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from jobspec.cli import cli
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
    assert ", 0 failed;" in result.stdout, result.stdout  # the summary line (issue 26 wording)
    limited = ws.emulator.stats()["rate_limited"]
    assert limited >= 1, "the run never met the limit: the test shows nothing"
    assert f"the server throttled this run: {limited} of " in result.stderr
    ws.emulator.faults(rate_limit=0)
    ws.assert_converged()


def test_plan_says_when_the_server_throttled_it(ws: Workspace) -> None:
    _many_specs(ws, 3)
    ws.emulator.faults(rate_limit=1, rate_burst=1)  # the token call, then one a second
    result = ws.cli("plan", expect=None)
    assert result.exit_code == 0, result.output + result.stderr
    assert "3 to create" in result.stdout
    limited = ws.emulator.stats()["rate_limited"]
    assert f"warning: the server throttled this run: {limited} of " in result.stderr


def test_a_bad_rate_limit_flag_stops_the_emulator_before_it_starts() -> None:
    result = CliRunner().invoke(cli, ["emulator", "--rate-limit", "fast"])
    assert result.exit_code == CliRunner().invoke(cli, ["emulator", "--fault-503", "7"]).exit_code
    assert result.exit_code != 0
    assert "'fast' is not CALLS_PER_SECOND[,BURST]" in result.output
