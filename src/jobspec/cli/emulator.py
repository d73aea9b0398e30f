"""`jobspec emulator`: a local DryvIQ-compatible server, for trying jobspec and for tests."""

from __future__ import annotations

from typing import Any

import click

from jobspec.cli.options import NO_COLOR, VERBOSE
from jobspec.cli.runtime import report_errors


# The emulator's own --log-level is uvicorn's, so it takes only -v and --no-color of the globals.
@click.command(cls=click.Command)
@VERBOSE
@NO_COLOR
@click.option(
    "--host",
    metavar="ADDRESS",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on.",
)
@click.option(
    "--port", metavar="PORT", default=9090, show_default=True, type=click.IntRange(0, 65535)
)
@click.option(
    "--username",
    metavar="NAME",
    default="admin",
    show_default=True,
    envvar="JOBSPEC_EMULATOR_USERNAME",
)
@click.option(
    "--password",
    metavar="PASSWORD",
    default="admin",
    show_default=True,
    envvar="JOBSPEC_EMULATOR_PASSWORD",
    help="Password for the password grant; the default is refused on a non-loopback --host.",
)
@click.option("--client-id", metavar="ID", default=None, envvar="JOBSPEC_EMULATOR_CLIENT_ID")
@click.option(
    "--client-secret",
    metavar="SECRET",
    default=None,
    envvar="JOBSPEC_EMULATOR_CLIENT_SECRET",
    help="With --client-id, enables the client_credentials grant.",
)
@click.option(
    "--token-ttl", metavar="SECONDS", default=3600, show_default=True, type=click.IntRange(min=1)
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False),
    help="Keep jobs in this SQLite file across restarts (default: in memory).",
)
@click.option("--demo", is_flag=True, help="Seed a dozen demo jobs with fixed ids (if empty).")
@click.option(
    "--controls/--no-controls", default=True, show_default=True, help="Serve /_emulator/."
)
@click.option(
    "--latency-ms",
    metavar="MS",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Added to every call.",
)
@click.option(
    "--spike-rate",
    metavar="RATE",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Latency spike rate.",
)
@click.option(
    "--spike-ms",
    metavar="MS",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Latency spike length.",
)
@click.option(
    "--fault-503",
    metavar="RATE",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Rate of 503 replies.",
)
@click.option(
    "--fault-429",
    metavar="RATE",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Rate of 429 replies.",
)
@click.option(
    "--fault-drop",
    metavar="RATE",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Rate of clone/patch/delete calls done but whose reply is lost.",
)
@click.option(
    "--retry-after", metavar="SECONDS", default=1, show_default=True, type=click.IntRange(min=0)
)
@click.option(
    "--rate-limit",
    "rate",
    default=None,
    metavar="CALLS_PER_SECOND[,BURST]",
    callback=lambda ctx, param, value: _rate_limit(value),
    help="Play a rate-limiting gateway: above this rate, 429 with Retry-After (token bucket; "
    "BURST defaults to one second's worth).",
)
@click.option("--seed", metavar="N", default=None, type=int, help="Seed for reproducible faults.")
@click.option(
    "--run-seconds",
    metavar="SECONDS",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How long a started run lasts before the job is idle again.",
)
@click.option(
    "--auto-interval",
    metavar="SECONDS",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between runs of jobs on schedule mode auto (0: they never start by themselves).",
)
@click.option(
    "--cancel-interval",
    metavar="SECONDS",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between the sweeps that cancel the runs of deleted jobs.",
)
@click.option(
    "--quirks",
    "quirks",
    multiple=True,
    metavar="NAME[,NAME…]|all",
    help="Switch on server behaviours the docs leave open (repeatable; see below).",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@report_errors
def emulator(
    host: str,
    port: int,
    log_level: str,
    data_path: str | None,
    quirks: tuple[str, ...],
    rate: tuple[float, int],
    **settings: Any,
) -> None:
    """Run a local DryvIQ-compatible server (jobs API plus /_emulator/ test controls).

    By default it behaves as the API is documented. `--quirks` switches on, one by one, the
    behaviours a real server may show where the docs are silent or it is stricter:

    \b
      summary-replies     every reply but a fields=all GET is a summary
      patch-needs-kind    a PATCH body without the job's kind is refused
      replace-endpoints   an endpoint in a write replaces the old one, and must be whole
      unstable-order      lists without `sort` come in a new order on every request
      deleted-in-lists    deleted jobs stay in lists, with status: deleted
      odd-jobs            lists also hold system jobs jobspec cannot read
      page-cap-100        a page holds at most 100 jobs
      no-total-count      list pages carry no meta.total_count
      status-200          create and clone answer 200, DELETE 200 with a body
      reorder-sets        delete_propagation and days come back in another order
      nfc-names           job names are stored in Unicode NFC
      server-fields-move  execute_on, health, counters … change between reads
      docshapes           replies as the vendor's examples: expanded connections …
      all                 every one of them

    \b
    Example:
      jobspec emulator --demo --port 9090
    """
    from pathlib import Path

    from jobspec.emulator.config import EmulatorConfig, check_exposure, parse_quirks

    config = EmulatorConfig(
        data_path=Path(data_path) if data_path else None,
        quirks=parse_quirks(quirks),
        rate_limit=rate[0],
        rate_burst=rate[1],
        **settings,
    )
    check_exposure(config, host=host)
    need_extra("emulator", ("starlette", "uvicorn"), what="`jobspec emulator`")

    from jobspec.emulator.server import listen, serve

    sock = listen(host=host, port=port)  # before the banner: a busy port is an error, not a log
    shown = f"[{host}]" if ":" in host else host
    bound = sock.getsockname()[1]
    click.echo(f"jobspec emulator on http://{shown}:{bound}/ (Ctrl-C to stop)", err=True)
    serve(config, sock=sock, log_level=log_level)


def _rate_limit(value: str | None) -> tuple[float, int]:
    """`CALLS_PER_SECOND[,BURST]` as (rate, burst); (0, 0) for no limit."""
    if not value:
        return 0.0, 0
    rate_text, _, burst_text = value.partition(",")
    try:
        rate = float(rate_text)
        burst = int(burst_text) if burst_text.strip() else 0
    except ValueError:
        rate, burst = -1.0, -1
    if not (0 <= rate < float("inf")) or burst < 0:
        raise click.BadParameter(
            f"{value!r} is not CALLS_PER_SECOND[,BURST] (e.g. 50 or 50,10)",
            param_hint="'--rate-limit'",
        )
    return rate, burst


def need_extra(extra: str, modules: tuple[str, ...], *, what: str) -> None:
    """Stop with the exact install command when an optional dependency is missing."""
    from importlib import import_module

    from jobspec.errors import MissingExtra

    missing = []
    for name in modules:
        try:
            import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtra(extra=extra, missing=missing, what=what)


COMMANDS = (emulator,)
