"""Fixtures for the reliability campaign.

- `ws`: the end-to-end `Workspace` with a state *file* (the campaign kills processes and
  reads the lock and journal files, so it runs against the file store only).
- `reference`: the fault-free run of the 20-spec fault workload.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace
from tests.helpers import EmulatorHandle
from tests.reliability.campaign import Reference, reference_run

FAULT_SPECS = 20
WORKLOAD_SEED = 2026


@pytest.fixture
def ws(tmp_path: Path, emulator: EmulatorHandle) -> Workspace:
    return Workspace(root=tmp_path, emulator=emulator)


@pytest.fixture
def reference(tmp_path: Path, emulator: EmulatorHandle) -> Reference:
    return reference_run(tmp_path, emulator, specs=FAULT_SPECS, seed=WORKLOAD_SEED)
