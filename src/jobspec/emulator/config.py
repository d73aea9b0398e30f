"""The emulator's settings: one frozen value built by the CLI (or a test) and read by the app.

Kept apart from the app so that the CLI can check a configuration (credentials on a public
address) before importing Starlette or uvicorn.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from jobspec.emulator.faults import FaultSettings
from jobspec.emulator.runs import RunSettings
from jobspec.errors import UsageError
from jobspec.netaddr import is_loopback

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "admin"
DEFAULT_TOKEN_TTL = 3600

QUIRKS: dict[str, str] = {
    "summary-replies": "every reply but a fields=all GET is a summary (kind, id, name, "
    "disabled, type, links); clone replies always are",
    "patch-needs-kind": "a PATCH body without the job's `kind` is refused (400)",
    "replace-endpoints": "a transfer.source/destination in a write replaces the endpoint "
    "object, and one without connection.id or target.path is refused",
    "unstable-order": "a list without `sort` comes in a different order on every request",
    "deleted-in-lists": "deleted jobs stay in lists, with status: deleted",
    "odd-jobs": "lists also hold system jobs jobspec cannot read (odd id, no name)",
    "page-cap-100": "a page holds at most 100 jobs, whatever `limit` asks",
    "no-total-count": "list pages carry no meta.total_count (has_more and next links only)",
    "status-200": "create and clone answer 200, not 201; DELETE answers 200 with a body",
    "reorder-sets": "set-like lists (delete_propagation, schedule.days) are stored in the "
    "server's own order (sorted), not the order sent",
    "nfc-names": "job names are stored in Unicode NFC, whatever form was sent",
    "server-fields-move": "server-maintained fields (execute_on, health, stop_policy counters, "
    "event_position, size_estimate, modified_on) change between reads, as runs do",
    "docshapes": "replies as DryvIQ's documented examples show them: connections expanded in "
    "each endpoint (their modified_on moving), options: null and a moving size_estimate in "
    "endpoints, type: transfer, created_by a user id, a discriminator; demo jobs with item-chain "
    "targets; categories under job_categories only, a category named in a job body created",
}
"""Behaviours the docs leave open, or where the real server is stricter than the emulator's
default (which is the documented behaviour): one switch each, `--quirks all` for every one."""


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig(FaultSettings, RunSettings):
    """Everything the emulator needs to start; every field has a safe local default.

    The fault settings (`latency_ms` … `seed`) and the run settings (`run_seconds`,
    `auto_interval`, `cancel_interval`) are inherited, declared once where they are used;
    `fault_settings` and `run_settings` take them back out. `seed` also seeds the
    unstable-order quirk.
    """

    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    client_id: str | None = None
    client_secret: str | None = None
    token_ttl: int = DEFAULT_TOKEN_TTL
    data_path: Path | None = None
    demo: bool = False
    controls: bool = True
    quirks: frozenset[str] = frozenset()
    """Names from `QUIRKS` that are switched on."""
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
    """Wall clock in epoch seconds; tests inject a fake one to make time move on demand."""

    @property
    def fault_settings(self) -> FaultSettings:
        """The faults to start with (and to go back to on reset)."""
        return FaultSettings(**_values(FaultSettings, self))

    @property
    def run_settings(self) -> RunSettings:
        """The run settings to start with (and to go back to on reset)."""
        return RunSettings(**_values(RunSettings, self))

    @property
    def client_credentials_enabled(self) -> bool:
        return bool(self.client_id) and bool(self.client_secret)

    def quirk(self, name: str) -> bool:
        assert name in QUIRKS, name
        return name in self.quirks


def _values(part: type[FaultSettings | RunSettings], config: EmulatorConfig) -> dict[str, Any]:
    """The fields `config` inherits from `part`, by name."""
    return {item.name: getattr(config, item.name) for item in fields(part)}


def parse_quirks(values: Iterable[str]) -> frozenset[str]:
    """Quirk names from comma lists (`all` for every one); an unknown name is a UsageError."""
    names = {part.strip() for value in values for part in value.split(",") if part.strip()}
    if "all" in names:
        return frozenset(QUIRKS)
    unknown = sorted(names - QUIRKS.keys())
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(QUIRKS), n=1, cutoff=0.6)
        raise UsageError(
            f"unknown quirk {unknown[0]!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint=f"known quirks: {', '.join(QUIRKS)}, or all",
        )
    return frozenset(names)


def check_exposure(config: EmulatorConfig, *, host: str) -> None:
    """Refuse to serve the well-known default password on an address others can reach."""
    if not is_loopback(host) and config.password == DEFAULT_PASSWORD:
        raise UsageError(
            f"refusing to listen on {host} with the default password {DEFAULT_PASSWORD!r}",
            hint="pass --password (and --username), or listen on 127.0.0.1",
        )
