"""The emulator's settings: one frozen value built by the CLI (or a test) and read by the app.

Kept apart from the app so that the CLI can check a configuration (credentials on a public
address) before importing Starlette or uvicorn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jobspec.errors import UsageError
from jobspec.netaddr import is_loopback

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "admin"
DEFAULT_TOKEN_TTL = 3600
DEFAULT_RETRY_AFTER = 1


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the emulator needs to start; every field has a safe local default."""

    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    client_id: str | None = None
    client_secret: str | None = None
    token_ttl: int = DEFAULT_TOKEN_TTL
    data_path: Path | None = None
    demo: bool = False
    controls: bool = True
    latency_ms: float = 0.0
    spike_rate: float = 0.0
    spike_ms: float = 0.0
    fault_503: float = 0.0
    fault_429: float = 0.0
    fault_drop: float = 0.0
    retry_after: int = DEFAULT_RETRY_AFTER
    seed: int | None = None
    run_seconds: float = 30.0
    """How long a started run lasts, in seconds of running time."""
    auto_interval: float = 0.0
    """Seconds between the runs of a job on schedule mode auto; 0: no run starts by itself."""
    cancel_interval: float = 5.0
    """Seconds between the sweeps that cancel the runs of deleted jobs (0: at once)."""
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
    """Wall clock in epoch seconds; tests inject a fake one to make time move on demand."""

    @property
    def client_credentials_enabled(self) -> bool:
        return bool(self.client_id) and bool(self.client_secret)


def check_exposure(config: EmulatorConfig, *, host: str) -> None:
    """Refuse to serve the well-known default password on an address others can reach."""
    if not is_loopback(host) and config.password == DEFAULT_PASSWORD:
        raise UsageError(
            f"refusing to listen on {host} with the default password {DEFAULT_PASSWORD!r}",
            hint="pass --password (and --username), or listen on 127.0.0.1",
        )
