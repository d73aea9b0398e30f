"""Server faults: the same 20-spec apply under each fault profile ends as a fault-free run.

Each trial re-runs apply (faults still on) until one run succeeds; a failed run must have
failed cleanly (exit 1, `error:`/`failed:` lines, no traceback). The server must then hold
exactly what the fault-free reference run made (every clone once, every original retired,
nothing else), and the state must equal the server. More seeds: `./scripts/test -m slow -k
fault_campaign` or `python bench/reliability.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import EmulatorHandle
from tests.reliability.campaign import PROFILES, Reference, fault_trial

# Two seeds per profile in the default run; one for spikes, whose lost clones wait to settle.
TRIALS = [
    (name, seed) for name in sorted(PROFILES) for seed in ((1,) if name == "spikes" else (1, 2))
]
SLOW_SEEDS = tuple(range(3, 13))


@pytest.mark.parametrize(("profile", "seed"), TRIALS)
def test_apply_under_faults_ends_as_a_fault_free_run(
    tmp_path: Path, emulator: EmulatorHandle, reference: Reference, profile: str, seed: int
) -> None:
    trial = fault_trial(tmp_path, emulator, PROFILES[profile], seed=seed, reference=reference)
    assert trial.converged and trial.duplicates == 0
    assert trial.requests > reference.requests  # the faults were met (retries, look-ups)
    if profile == "token-expiry":
        assert trial.token_expiries >= 1


@pytest.mark.slow
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_fault_campaign(
    tmp_path: Path, emulator: EmulatorHandle, reference: Reference, profile: str
) -> None:
    for seed in SLOW_SEEDS:
        trial = fault_trial(tmp_path, emulator, PROFILES[profile], seed=seed, reference=reference)
        assert trial.converged and trial.duplicates == 0
