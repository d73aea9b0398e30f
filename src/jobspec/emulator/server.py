"""Running the emulator under uvicorn: in the foreground for the CLI, or in a background thread.

`serve()` is what `jobspec emulator` runs. `running_emulator()` starts a server on a free
loopback port in a daemon thread and yields once it is accepting connections (it waits on an
event set by uvicorn's own start-up, not on a sleep); tests and `jobspec demo` use it.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

from jobspec.emulator.app import create_app, hide_dropped_reply_errors
from jobspec.emulator.config import EmulatorConfig
from jobspec.errors import UsageError

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunningEmulator:
    """A live emulator: `url` is its base address, like "http://127.0.0.1:PORT/"."""

    url: str
    host: str
    port: int
    app: Starlette
    config: EmulatorConfig


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that sets an event once it is listening (or has given up)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


def _uvicorn_config(app: Starlette, *, log_level: str, **options: Any) -> uvicorn.Config:
    config = uvicorn.Config(app, log_level=log_level, access_log=False, **options)
    hide_dropped_reply_errors()  # after uvicorn has configured its loggers
    return config


def listen(*, host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a UsageError saying why not (port busy, no such address).

    Bound before anything is printed, so a busy port is one `error:` line, not a banner
    followed by uvicorn's traceback-like log.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot listen on {host}: {exc.strerror}", hint="pass --host with a local address"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        busy = exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="another program uses that port: pick another with --port (0 picks a free one)"
            if busy
            else "pass --host with an address of this machine",
        ) from None
    return sock


def serve(config: EmulatorConfig, *, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve on `sock` (from `listen`) in the foreground until interrupted (Ctrl-C)."""
    app = create_app(config)
    with sock:
        uvicorn.Server(_uvicorn_config(app, log_level=log_level)).run(sockets=[sock])


@contextmanager
def running_emulator(
    config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[RunningEmulator]:
    """Serve `config` in a background thread; port 0 picks a free port. Stops on exit."""
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = _SignallingServer(_uvicorn_config(app, log_level=log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"emulator:{bound_port}", daemon=True
    )
    thread.start()
    try:
        while not server.ready.wait(0.05):
            if not thread.is_alive():
                break
        if not server.started:
            raise RuntimeError(f"the emulator did not start on {host}:{bound_port}")
        yield RunningEmulator(
            url=f"http://{host}:{bound_port}/", host=host, port=bound_port, app=app, config=config
        )
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()
