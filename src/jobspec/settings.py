"""Connection settings: where the DryvIQ server is, how to log in, and local paths.

This module owns turning flags, the environment and `jobspec.toml` into one validated,
frozen `Settings`, so that the client never reads the environment and the CLI never checks
a URL. Sources, highest first:

1. explicit arguments (the CLI flags `--server`, `--concurrency`, `--insecure`);
2. the environment: every key of `jobspec.toml` as `JOBSPEC_<KEY>` (`ENV_NAMES`), then
   DryvIQ's own CLI variable `SKYSYNC_SERVER` as a fallback; a bad value is an error naming
   the variable;
3. `jobspec.toml` (non-secrets only: `server`, `state`, `specs`, `concurrency`, `timeout`,
   `clone_settle`, and `cutover`, the default of every spec that does not set its own);
4. defaults.

(pydantic-settings was weighed for this and not taken: it would add python-dotenv and about
60 ms of imports to every command, and what this module is mostly about, the `SKYSYNC_*`
family never mixed with `JOBSPEC_*`, exactly one credential kind, paths relative to the
config file, refusing secrets in it, and where each value came from, would stay hand-written.)

Credentials come from the environment only, never from a file that may end up in git. Exactly
one kind may be set: a user (`JOBSPEC_USERNAME` + `JOBSPEC_PASSWORD`), an API client
(`JOBSPEC_CLIENT_ID` + `JOBSPEC_CLIENT_SECRET`) or a ready token (`JOBSPEC_TOKEN`). Two kinds at
once are two identities with possibly different rights, so that is an error rather than a
silent pick. The `SKYSYNC_*` variables are read only when no `JOBSPEC_*` credential variable is
set at all, so the two families are never mixed (one user's name with another's password).
Empty variables count as unset (CI systems expand a missing secret to "").

Secrets are `pydantic.SecretStr`: their repr and str are masked, and nothing here puts a secret
into a message.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from jobspec.errors import UsageError, redact_credentials
from jobspec.model import Cutover
from jobspec.netaddr import is_loopback

CONFIG_FILE = "jobspec.toml"
DEFAULT_STATE = Path("jobspec.state.json")
DEFAULT_SPECS = Path("specs")
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
DEFAULT_TIMEOUT = 60.0
DEFAULT_CLONE_SETTLE = 30.0
DEFAULT_KEEPALIVE = 2.0
"""Seconds a connection may sit idle and still be reused: below common servers' keep-alive
(uvicorn's 5 s, nginx's 75 s), so that a request never races the server closing it."""

CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "server": (str,),
    "state": (str,),
    "specs": (str,),
    "concurrency": (int,),
    "timeout": (int, float),
    "clone_settle": (int, float),
    "ignore_unreadable": (list,),
    "cutover": (str,),
    "keepalive": (int, float),
}
CONFIG_KEYS = tuple(CONFIG_TYPES)
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "server": ("JOBSPEC_SERVER", "SKYSYNC_SERVER"),
    "state": ("JOBSPEC_STATE",),
    "specs": ("JOBSPEC_SPECS",),
    "concurrency": ("JOBSPEC_CONCURRENCY",),
    "timeout": ("JOBSPEC_TIMEOUT",),
    "clone_settle": ("JOBSPEC_CLONE_SETTLE",),
    "ignore_unreadable": ("JOBSPEC_IGNORE_UNREADABLE",),  # a comma-separated list
    "cutover": ("JOBSPEC_CUTOVER",),
    "keepalive": ("JOBSPEC_KEEPALIVE",),
}
"""The variables each `jobspec.toml` key is also read from, first found wins."""
# Keys people will try to put in jobspec.toml, and where they belong instead.
CREDENTIAL_KEYS = {
    "password": "JOBSPEC_PASSWORD",
    "client_secret": "JOBSPEC_CLIENT_SECRET",
    "token": "JOBSPEC_TOKEN",
    "access_token": "JOBSPEC_TOKEN",
    "secret": "JOBSPEC_CLIENT_SECRET",
    "username": "JOBSPEC_USERNAME",
    "user": "JOBSPEC_USERNAME",
    "client_id": "JOBSPEC_CLIENT_ID",
}

CREDENTIALS_HINT = (
    "set JOBSPEC_USERNAME and JOBSPEC_PASSWORD, or JOBSPEC_CLIENT_ID and JOBSPEC_CLIENT_SECRET, "
    "or JOBSPEC_TOKEN"
)


@dataclass(frozen=True)
class PasswordLogin:
    """A DryvIQ user: OAuth2 password grant, with a refresh token."""

    username: str
    password: SecretStr
    env_names: tuple[str, str] = ("JOBSPEC_USERNAME", "JOBSPEC_PASSWORD")

    def describe(self) -> str:
        return f"user {self.username!r}"


@dataclass(frozen=True)
class ClientLogin:
    """An API client: OAuth2 client-credentials grant."""

    client_id: str
    client_secret: SecretStr
    env_names: tuple[str, str] = ("JOBSPEC_CLIENT_ID", "JOBSPEC_CLIENT_SECRET")

    def describe(self) -> str:
        return f"API client {self.client_id!r}"


@dataclass(frozen=True)
class StaticToken:
    """A bearer token obtained elsewhere; it cannot be refreshed."""

    token: SecretStr
    env_names: tuple[str] = ("JOBSPEC_TOKEN",)

    def describe(self) -> str:
        return "a static token"


Credentials = PasswordLogin | ClientLogin | StaticToken


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything needed to reach the server, plus the local paths the commands use.

    `server` is the server root with a trailing slash (`https://dryviq.example.com/`); the API
    is under `{server}v1/` and the token endpoint at `{server}connect/token`.
    """

    server: str
    credentials: Credentials
    state_path: Path | str = DEFAULT_STATE  # a path, or a postgresql:// URL kept as given
    specs_dir: Path = DEFAULT_SPECS
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    insecure: bool = False
    clone_settle: float = DEFAULT_CLONE_SETTLE
    """Seconds after a lost clone call before "not found" counts as proof it was never made."""
    ignore_unreadable: tuple[str, ...] = ()
    """Kinds, ids or names of unreadable listed jobs acknowledged in jobspec.toml: not warned of."""
    cutover: Cutover = Cutover.immediate
    """The `cutover` of every spec that does not set its own (`jobspec.toml`)."""
    keepalive: float = DEFAULT_KEEPALIVE
    """Seconds an idle connection may be reused; older ones are closed, not sent on."""
    # Where each value came from, for `--verbose` style reporting; never holds a secret.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return (
            f"Settings(server={self.server!r}, credentials={self.credentials.describe()}, "
            f"state_path={str(self.state_path)!r}, specs_dir={str(self.specs_dir)!r}, "
            f"concurrency={self.concurrency}, timeout={self.timeout}, insecure={self.insecure})"
        )

    __str__ = __repr__


_READ_PREFIXES = ("JOBSPEC_", "SKYSYNC_")
_PROXY_NAMES = frozenset(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE")
    for name in (base, base.lower())
)


def check_environment(env: Mapping[str, str]) -> None:
    """Refuse a variable jobspec (or its HTTP stack) reads whose value is not valid UTF-8.

    On POSIX, Python hands such bytes over as lone surrogates, which fail much later (a
    password sent, a URL built) with a traceback; here it is one error naming the variable.
    """
    for name, value in sorted(env.items()):
        if not (name.startswith(_READ_PREFIXES) or name in _PROXY_NAMES):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(
                f"the environment variable {name} is not valid UTF-8 text",
                hint=f"set {name} again from a UTF-8 source (its value is not shown: it may be "
                "a secret)",
            ) from None


def load_settings(
    *,
    env: Mapping[str, str],
    config_path: Path | None,
    server: str | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    insecure: bool = False,
) -> Settings:
    """Merge flags, environment, `jobspec.toml` and defaults into validated `Settings`.

    `config_path=None` reads `./jobspec.toml` if it exists; an explicit path must exist.
    Relative `state` and `specs` paths in the file are relative to the file's directory.
    Raises `UsageError` (with a hint) for anything missing, ambiguous or unsafe.
    """
    check_environment(env)
    config, config_file = _read_config(config_path)
    origins: dict[str, str] = {}
    env = {name: value for name, value in env.items() if value.strip()}

    def pick(key: str, flag: Any, env_names: tuple[str, ...] = ()) -> Any:
        if flag is not None:
            origins[key] = "flag"
            return flag
        for name in env_names:
            if name in env:
                origins[key] = name
                return env[name].strip()
        if key in config:
            origins[key] = str(config_file)
            return config[key]
        return None

    raw_server = pick("server", server, ENV_NAMES["server"])
    if raw_server is None:
        raise UsageError(
            "no DryvIQ server given",
            hint=f"pass --server, set JOBSPEC_SERVER, or set `server` in {CONFIG_FILE}",
        )
    try:
        base = normalize_server(raw_server)
    except UsageError as exc:
        if origins["server"] == "flag":
            raise
        raise UsageError(f"{origins['server']}: {exc.message}", hint=exc.hint) from None
    _check_transport_security(base, insecure=insecure)

    base_dir = config_file.parent if config_file else Path()
    state = pick("state", None, ENV_NAMES["state"])
    specs = pick("specs", None, ENV_NAMES["specs"])
    workers = pick("concurrency", concurrency, ENV_NAMES["concurrency"])
    seconds = pick("timeout", timeout, ENV_NAMES["timeout"])
    settle = pick("clone_settle", None, ENV_NAMES["clone_settle"])
    specs_base = Path() if origins.get("specs") in ENV_NAMES["specs"] else base_dir
    cutover = pick("cutover", None, ENV_NAMES["cutover"])
    unreadable = pick("ignore_unreadable", None, ENV_NAMES["ignore_unreadable"])
    if isinstance(unreadable, str):  # the variable: a comma-separated list
        unreadable = [item.strip() for item in unreadable.split(",") if item.strip()]
    idle = pick("keepalive", None, ENV_NAMES["keepalive"])
    return Settings(
        server=base,
        credentials=_credentials(env),
        state_path=_state_location(state, origin=origins.get("state"), base_dir=base_dir),
        specs_dir=specs_base / specs if specs else DEFAULT_SPECS,
        concurrency=DEFAULT_CONCURRENCY
        if workers is None
        else _concurrency(_number(workers, int), origins),
        timeout=DEFAULT_TIMEOUT if seconds is None else _timeout(_number(seconds, float), origins),
        insecure=insecure,
        clone_settle=DEFAULT_CLONE_SETTLE if settle is None else _settle(settle, origins),
        ignore_unreadable=tuple(unreadable or ()),
        cutover=Cutover.immediate if cutover is None else _cutover(cutover, origins),
        keepalive=DEFAULT_KEEPALIVE if idle is None else _keepalive(idle, origins),
        origins=origins,
    )


def state_location(
    *, env: Mapping[str, str], flag: str | None, config_path: Path | None = None
) -> Path | str:
    """Where the state lives, for commands that need nothing else (`state …`, `unlock`).

    Highest first: the `--state` flag, `JOBSPEC_STATE`, `state` in `jobspec.toml`, the
    default file. A path is a `Path` (relative to the config file when it came from there);
    a `postgresql://` URL is kept as the string given.
    """
    if flag is not None:
        return _state_location(flag, origin="flag", base_dir=Path())
    check_environment(env)
    if value := env.get("JOBSPEC_STATE", "").strip():
        return _state_location(value, origin="JOBSPEC_STATE", base_dir=Path())
    config, config_file = _read_config(config_path)
    if config_file is None or "state" not in config:
        return DEFAULT_STATE
    return _state_location(config["state"], origin=str(config_file), base_dir=config_file.parent)


def specs_location(
    *, flag: str | None, config_path: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """The spec directory, for commands that need nothing else (`validate`, `fmt`).

    The same answer `load_settings` gives: the `--specs` flag, else `JOBSPEC_SPECS`, else
    `specs` in `jobspec.toml` (relative to that file), else `specs`. So CI's validate step and
    the pre-commit hooks check the folder that plan and apply read.
    """
    if flag is not None:
        return Path(flag)
    if env and (value := env.get("JOBSPEC_SPECS", "").strip()):
        return Path(value)
    config, config_file = _read_config(config_path)
    if config_file is None or not config.get("specs"):
        return DEFAULT_SPECS
    return config_file.parent / str(config["specs"])


def _state_location(raw: str | None, *, origin: str | None, base_dir: Path) -> Path | str:
    from jobspec.state.location import is_database_url, parse_location

    if not raw:
        return DEFAULT_STATE
    if not is_database_url(raw):
        return Path(raw) if origin in (None, "flag", "JOBSPEC_STATE") else base_dir / raw
    try:
        parsed = parse_location(raw)
    except UsageError as exc:
        if origin in (None, "flag"):
            raise
        raise UsageError(f"{origin}: {exc.message}", hint=exc.hint) from None
    if origin not in ("flag", "JOBSPEC_STATE") and parsed.has_password:
        # Never echo the URL: it holds the password.
        raise UsageError(
            f"{origin}: the `state` URL contains a password: it may end up in git",
            hint="remove it; set PGPASSWORD (or use PGPASSFILE / ~/.pgpass), or put the whole "
            "URL in JOBSPEC_STATE from your CI's secrets",
        )
    return raw.strip()


def normalize_server(raw: str) -> str:
    """`raw` as a server root URL ending in `/`; `UsageError` if it is not an http(s) URL."""
    text = raw.strip()
    shown = redact_credentials(text)  # what messages may quote
    hint = "write it as https://host[:port]/ (the server root, without /v1)"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        message = redact_credentials(str(exc))
        raise UsageError(f"malformed server address {shown!r}: {message}", hint=hint) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"malformed server address {shown!r}", hint=hint)
    if parts.username is not None or parts.password is not None:
        # Never echo the address: it holds credentials.
        raise UsageError(
            "the server address contains credentials", hint=f"remove them; {CREDENTIALS_HINT}"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"malformed server address {shown!r}: unexpected ? or #", hint=hint)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    if path.rstrip("/").endswith("/v1"):
        raise UsageError(f"the server address {shown!r} includes the API path /v1", hint=hint)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _check_transport_security(base: str, *, insecure: bool) -> None:
    parts = urlsplit(base)
    if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname or ""):
        raise UsageError(
            f"refusing to send credentials over plain http to {parts.hostname}; "
            "use https or pass --insecure",
            hint="plain http is accepted without --insecure only for localhost/127.0.0.1/::1",
        )


def _credentials(env: Mapping[str, str]) -> Credentials:
    found = _credentials_from(env, "JOBSPEC_")
    if found is None:
        found = _credentials_from(env, "SKYSYNC_")
    if found is None:
        raise UsageError("no credentials for the DryvIQ server", hint=CREDENTIALS_HINT)
    return found


def _credentials_from(env: Mapping[str, str], prefix: str) -> Credentials | None:
    """The one credential kind set with `prefix`, None if no variable of the family is set."""
    keys: tuple[str, ...] = ("username", "password")
    if prefix == "JOBSPEC_":  # only a user login is read from DryvIQ's own CLI variables
        keys += ("client_id", "client_secret", "token")
    names = {key: f"{prefix}{key.upper()}" for key in keys}
    values = {key: env.get(name) for key, name in names.items()}
    if not any(values.values()):
        return None

    kinds: list[Credentials] = []
    for user_key, secret_key in (("username", "password"), ("client_id", "client_secret")):
        user, secret = values.get(user_key), values.get(secret_key)
        if bool(user) != bool(secret):
            have, lack = (user_key, secret_key) if user else (secret_key, user_key)
            raise UsageError(
                f"{names[have]} is set but {names[lack]} is not",
                hint=f"set both {names[user_key]} and {names[secret_key]}, or neither",
            )
        if user and secret:
            pair = (names[user_key], names[secret_key])
            if user_key == "username":
                kinds.append(PasswordLogin(user.strip(), SecretStr(secret), env_names=pair))
            else:
                kinds.append(ClientLogin(user.strip(), SecretStr(secret), env_names=pair))
    if token := values.get("token"):
        kinds.append(StaticToken(SecretStr(token.strip()), env_names=(names["token"],)))
    if len(kinds) > 1:
        which = " and ".join("/".join(kind.env_names) for kind in kinds)
        raise UsageError(
            f"more than one kind of credentials is set: {which}",
            hint="unset all but one: they may be different identities with different rights",
        )
    return kinds[0]


def _read_config(config_path: Path | None) -> tuple[dict[str, Any], Path | None]:
    path = config_path if config_path is not None else Path(CONFIG_FILE)
    if config_path is None and not path.is_file():
        return {}, None
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError as exc:
        raise UsageError(f"config file {path} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from exc

    for key in data:
        if key in CREDENTIAL_KEYS:
            raise UsageError(
                f"{path}: `{key}` does not belong in {CONFIG_FILE}: it may end up in git",
                hint=f"set {CREDENTIAL_KEYS[key]} in the environment instead",
            )
        if key not in CONFIG_KEYS:
            close = difflib.get_close_matches(key, CONFIG_KEYS, n=1)
            raise UsageError(
                f"{path}: unknown key `{key}`",
                hint=f"did you mean `{close[0]}`?"
                if close
                else f"known keys: {', '.join(CONFIG_KEYS)}",
            )
        value, types = data[key], CONFIG_TYPES[key]
        if types == (list,):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UsageError(
                    f"{path}: `{key}` must be a list of strings, not {value!r}",
                    hint='e.g. ignore_unreadable = ["system"]: the kinds, ids or names of the '
                    "unreadable jobs to stop warning about",
                )
            continue
        if not isinstance(value, types) or isinstance(value, bool):
            wanted = "a string" if types == (str,) else "a number"
            raise UsageError(f"{path}: `{key}` must be {wanted}, not {value!r}")
    return data, path


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """A variable's text as the number it spells, else unchanged (for the check to refuse)."""
    if not isinstance(value, str):
        return value
    try:
        return kind(value)
    except ValueError:
        return value


def _concurrency(value: Any, origins: Mapping[str, str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise UsageError(
            f"concurrency from {origins.get('concurrency', 'settings')} must be a whole number "
            f"from 1 to {MAX_CONCURRENCY}, not {value!r}"
        )
    return value


def _settle(value: Any, origins: Mapping[str, str]) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 <= seconds < 3600:
        raise UsageError(
            f"clone_settle from {origins.get('clone_settle', 'settings')} must be a number of "
            f"seconds from 0 to 3600, not {value!r}"
        )
    return seconds


def _cutover(value: Any, origins: Mapping[str, str]) -> Cutover:
    if value not in tuple(Cutover):
        raise UsageError(
            f"cutover from {origins.get('cutover', 'settings')} must be one of "
            f"{', '.join(Cutover)}, not {value!r}"
        )
    return Cutover(value)


def _keepalive(value: Any, origins: Mapping[str, str]) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not 0 <= seconds <= 300:
        raise UsageError(
            f"keepalive from {origins.get('keepalive', 'settings')} must be a number of "
            f"seconds from 0 to 300, not {value!r}",
            hint="keep it below the server's own keep-alive (5 s for uvicorn); 0 never reuses",
        )
    return seconds


def _timeout(value: Any, origins: Mapping[str, str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise UsageError(
            f"timeout from {origins.get('timeout', 'settings')} must be a positive number of "
            f"seconds, not {value!r}"
        )
    if not math.isfinite(value):
        raise UsageError(
            f"timeout from {origins.get('timeout', 'settings')} must be a finite number of seconds"
        )
    return float(value)
