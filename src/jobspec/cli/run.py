"""The one path every server command takes: settings, specs, the store, then the API.

`server_run` resolves the settings (flags, environment, `jobspec.toml`), opens the state
store and loads the specs (every problem printed before anything touches the network);
`Run.with_api` then runs the command's work with a client on a fresh event loop. Errors from
any of it reach the person through `runtime.report_errors`, the one reporting path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, TypeVar, Unpack

from jobspec.cli.options import ServerFlags, config_path
from jobspec.cli.runtime import SCRUB, run_async, show, warn
from jobspec.scrub import url_secrets

if TYPE_CHECKING:
    from pathlib import Path

    from jobspec.api import Api
    from jobspec.model import Cutover, DesiredJob
    from jobspec.settings import Settings
    from jobspec.state import StateStore

R = TypeVar("R")


class Specs(Enum):
    """What a command needs of the spec folder."""

    REQUIRED = "required"  # every spec valid, the folder there
    IF_PRESENT = "if-present"  # no folder (or no file) is no specs: where adoption starts
    TO_COMPARE = "to-compare"  # a saved plan's: compared if there, else a warning


@dataclass(frozen=True)
class Run:
    """What a server command works with, resolved from flags, environment and config.

    `specs_found` is False only for a saved plan whose spec folder is missing
    (`Specs.TO_COMPARE`): its `desired` is then empty, and not to compare with.
    """

    settings: Settings
    specs_dir: Path
    store: StateStore
    targets: tuple[str, ...]
    desired: dict[str, DesiredJob]
    specs_found: bool = True

    def with_api(self, work: Callable[[Api], Awaitable[R]]) -> R:
        """Run `work` with a client for the configured server, on a fresh event loop
        (`runtime.run_async`: SIGINT and SIGTERM end it as `Interrupted`)."""
        from jobspec.client import DryvIQClient

        async def start() -> R:
            async with DryvIQClient(self.settings, warn=warn, scrubber=SCRUB) as api:
                try:
                    return await work(api)
                finally:
                    note = api.throttling()
                    if note is not None:
                        warn(note)

        return run_async(start)


def server_run(
    *, specs: Specs = Specs.REQUIRED, targets: tuple[str, ...] = (), **flags: Unpack[ServerFlags]
) -> Run:
    """Settings, the store, then the specs: what every server command starts with."""
    import os
    from pathlib import Path

    from jobspec.settings import load_settings, state_location
    from jobspec.state import open_state_store

    settings = load_settings(
        env=os.environ,
        config_path=config_path(),
        server=flags["server"],
        concurrency=flags["concurrency"],
        insecure=flags["insecure"],
    )
    specs_dir, state_path = flags["specs_dir"], flags["state_path"]
    SCRUB.add(*url_secrets(state_path or ""), *url_secrets(str(settings.state_path)))
    location = (
        settings.state_path if state_path is None else state_location(env={}, flag=state_path)
    )
    directory = Path(specs_dir) if specs_dir else settings.specs_dir
    store = open_state_store(location)  # a bad location is told before spec problems
    desired = _specs(directory, specs)
    if desired:
        desired = _default_cutover(desired, settings.cutover)
    return Run(
        settings=settings,
        specs_dir=directory,
        store=store,
        targets=targets,
        desired=desired or {},
        specs_found=desired is not None,
    )


def _default_cutover(desired: dict[str, DesiredJob], default: Cutover) -> dict[str, DesiredJob]:
    """Specs without a `cutover` of their own take `jobspec.toml`'s (when it sets one)."""
    from jobspec.model import Cutover

    if default is Cutover.immediate:
        return desired
    return {
        address: wanted.model_copy(
            update={"spec": wanted.spec.model_copy(update={"cutover": default})}
        )
        if wanted.spec.cutover is None
        else wanted
        for address, wanted in desired.items()
    }


def _specs(directory: Path, need: Specs) -> dict[str, DesiredJob] | None:
    from jobspec.spec import spec_files

    if need is Specs.IF_PRESENT and not (directory.is_dir() and spec_files(directory)):
        return {}
    if need is Specs.TO_COMPARE and not directory.is_dir():
        warn(
            f"no spec folder {directory}: the plan is not compared with the spec files it was "
            "made from"
        )
        return None
    if need is Specs.TO_COMPARE and not spec_files(directory):
        # not "(removed)" for every address: there is nothing here to compare with
        warn(
            f"no spec files in {directory}: the plan is not compared with the spec files it "
            "was made from (apply where they are, or pass --specs DIR)"
        )
        return None
    return load_specs(directory)


def load_specs(directory: Path) -> dict[str, DesiredJob]:
    """Every spec problem, printed in full, before anything touches the network."""
    from jobspec.errors import SpecError
    from jobspec.spec import collect_problems
    from jobspec.views import spec_problems

    desired, problems = collect_problems(directory)
    if problems:
        show(spec_problems(problems))
        raise SpecError(problems)
    return desired


def open_store(state_path: str | None) -> StateStore:
    """The state store alone, for the commands that never call the server."""
    import os

    from jobspec.settings import state_location
    from jobspec.state import open_state_store

    location = state_location(env=os.environ, flag=state_path, config_path=config_path())
    SCRUB.add(*url_secrets(str(location)))
    return open_state_store(location)
