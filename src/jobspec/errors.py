"""The error tree. Each error knows its exit code and an optional hint.

`cli.runtime.report_errors` catches `JobspecError` once and prints `error: …` / `hint: …`;
anything else is a bug and keeps its traceback.

    JobspecError
    ├── UsageError            bad flags or settings (config, env, --insecure)
    │   └── MissingExtra      an optional dependency is not installed (`pip install …[extra]`)
    ├── SpecError             one or more spec problems, each with file:line:column
    ├── ApiError              the server answered with an error, or with garbage
    │   ├── AuthError         credentials refused, or a 401 that survived re-authentication
    │   ├── NotFoundError     404
    │   └── OutcomeUnknown    a mutating call whose result was lost (never blindly re-sent)
    ├── StateError            state file unreadable, foreign lineage, newer format
    │   └── LockError         the state is locked by someone else
    ├── PlanError             the planner refused the desired set (missing source, conflict …)
    ├── StalePlanError        a saved plan no longer matches the world
    ├── GateRefused           a mutating call whose target the gate cannot justify (gate.py)
    ├── IdleTimeout           a job to delete was still running when --wait-for-idle ran out
    └── CutoverFailed         a verified cutover's first run ended badly: the original stays
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_URL_USERINFO = re.compile(
    # Anchored on `://` with bounded runs: a long run of letters must not make it quadratic.
    r"(?P<scheme>://)(?P<user>[^/@\s:]{0,256})(?::[^/@\s]{0,1024})?@"
)


def redact_credentials(text: str) -> str:
    """`text` with the password part of any `scheme://user:password@` in it replaced.

    For messages that quote an address a user typed (or a driver's message quoting it).
    """
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


class JobspecError(Exception):
    """Base of every error a user can cause or fix."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(JobspecError):
    """Bad command-line flags, environment or config file."""


DISTRIBUTION = "dryviq-jobspec"
"""The name to `pip install`; `jobspec` on the package index is somebody else's project."""


class MissingExtra(UsageError):
    """A feature needs an optional dependency that is not installed: say exactly what to run."""

    def __init__(self, *, extra: str, missing: list[str], what: str) -> None:
        names = " and ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        super().__init__(
            f"{what} needs {names}, which {verb} not installed",
            hint=f"pip install '{DISTRIBUTION}[{extra}]'",
        )
        self.extra = extra


@dataclass(frozen=True)
class Problem:
    """One spec problem at a position; line and column are 1-based."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class SpecError(JobspecError):
    """Every problem found in the specs, collected in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} {noun} in specs", hint="run `jobspec validate` to see them all")
        self.problems = problems


class ApiError(JobspecError):
    """The server refused a call or answered with something that is not the API."""

    def __init__(
        self,
        message: str,
        *,
        call: str,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"{call}: {message}", hint=hint)
        self.call = call
        self.status = status


class AuthError(ApiError):
    """Credentials refused, or a token the server keeps rejecting."""


class NotFoundError(ApiError):
    """The job does not exist (or was deleted)."""


class OutcomeUnknown(ApiError):
    """A mutating call was sent but its reply was lost: it may or may not have happened."""


class StateError(JobspecError):
    """The state file cannot be used as it is."""


class LockError(StateError):
    """Another run holds the state lock."""


class PlanError(JobspecError):
    """The planner cannot produce a plan for the desired set; every reason is listed."""

    def __init__(
        self,
        problems: list[str],
        *,
        hint: str | None = None,
        strays: Mapping[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        count = len(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            message or f"cannot plan: {count} {noun}\n{lines}",
            hint=hint or "fix the specs (or the server) and plan again; nothing was applied",
        )
        self.problems = problems
        self.strays = dict(strays or {})
        """Address → a live job that bears its clone name and state does not know: what a
        lost state leaves behind, and `jobspec import --discover` adopts."""


class StalePlanError(JobspecError):
    """A saved plan whose world has moved on."""


class IdleTimeout(JobspecError):
    """A job stayed running past the wait-for-idle timeout, so it was not deleted."""


class CutoverFailed(JobspecError):
    """A clone's first run ended badly (`cutover: verified`): the clone was set to manual and
    the original left as it was (or put back on its schedule)."""


class Stopped(BaseException):
    """SIGTERM during a wait that blocks the event loop (the state lock's): raised at once.

    A BaseException, as KeyboardInterrupt is for SIGINT: nothing catches it on the way out;
    `cli.runtime.run_async` turns it into exit 143.
    """

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = exit_code


class GateRefused(JobspecError):
    """A clone, PATCH or DELETE whose target the spec files and state do not justify."""
