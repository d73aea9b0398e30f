"""What each command shows: its human and JSON output, built in one place from plain values.

Pure string work, like `render` (which draws plans). Each view returns a `Screen`: what goes
to stdout (the command's result, for pipes) and what goes to stderr (notes, counts, hints),
so the CLI only prints, and golden files pin every command's output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobspec.applier import ApplyResult
from jobspec.drift import Drift
from jobspec.errors import Problem
from jobspec.model import StateEntry
from jobspec.plan import Plan
from jobspec.render import render_json, render_markdown, render_text
from jobspec.state import Intent, LockInfo, State, Transfer

__all__ = [
    "Screen",
    "apply_summary",
    "count",
    "drift_report",
    "fmt_report",
    "github_annotation",
    "imported",
    "interrupted_notes",
    "lock_broken",
    "lock_waiting",
    "plan_saved",
    "plan_view",
    "state_copied",
    "state_entry",
    "state_forgotten",
    "state_list",
    "validate_report",
]


@dataclass(frozen=True)
class Screen:
    """A command's output: `out` for stdout, `err` for stderr; each ends with a newline if set."""

    out: str = ""
    err: str = ""

    def __add__(self, other: Screen) -> Screen:
        return Screen(out=self.out + other.out, err=self.err + other.err)


def _lines(lines: Iterable[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def count(number: int, noun: str) -> str:
    """`1 job`, `2 jobs`, `1,000 addresses`."""
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number:,} {noun if number == 1 else plural}"


# --- validate -----------------------------------------------------------------------------------


def github_annotation(problem: Problem) -> str:
    """`::error file=…,line=…,col=…::message`, escaped per the workflow-command rules."""

    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    message = f"{problem.message} ({problem.hint})" if problem.hint else problem.message
    return (
        f"::error file={prop(problem.file)},line={problem.line},col={problem.column}"
        f"::{data(message)}"
    )


def validate_report(
    *, jobs: int, files: int, problems: Sequence[Problem], output_format: str
) -> Screen:
    """`ok: N jobs in M files`, or one line per problem and a count on stderr."""
    if not problems:
        return Screen(out=f"ok: {count(jobs, 'job')} in {count(files, 'file')}\n")
    shown = (github_annotation(p) if output_format == "github" else str(p) for p in problems)
    with_problems = len({problem.file for problem in problems})
    return Screen(
        out=_lines(shown),
        err=f"{count(len(problems), 'problem')} in {count(with_problems, 'file')}\n",
    )


def spec_problems(problems: Sequence[Problem]) -> Screen:
    """Spec problems found by a command that needs valid specs: all of them, on stderr."""
    return Screen(err=_lines(str(problem) for problem in problems))


# --- plan and apply -----------------------------------------------------------------------------


def plan_view(plan: Plan, *, output_format: str, color: bool = False) -> Screen:
    """A plan as text (optionally coloured), JSON or markdown (a pull-request comment)."""
    if output_format == "json":
        return Screen(out=render_json(plan))
    if output_format == "markdown":
        return Screen(out=render_markdown(plan))
    return Screen(out=render_text(plan, color=color))


def interrupted_notes(pending: Iterable[Intent]) -> Screen:
    """What `plan` says about calls an interrupted apply left unsettled."""
    return Screen(
        err=_lines(
            f"note: {intent.address}: a `{intent.op}` call was interrupted; apply settles it first"
            for intent in pending
        )
    )


def plan_saved(path: str) -> Screen:
    return Screen(err=f"saved plan to {path}; apply it with `jobspec apply {path}`\n")


def lock_waiting(holder: LockInfo) -> Screen:
    return Screen(err=f"waiting for the state lock held by {holder.describe()}\n")


def apply_summary(result: ApplyResult) -> Screen:
    """The closing line of an apply; failures, and what to do about them, on stderr."""
    counts = ", ".join(f"{number} {word}" for word, number in result.counts.items())
    out = f"Apply {'complete' if result.ok else 'finished with failures'}: {counts}.\n"
    if result.ok:
        return Screen(out=out)
    failed = [f"failed: {address}: {message}" for address, message in result.failures]
    failed.append("hint: every completed step is saved; fix the cause and run apply again")
    return Screen(out=out, err=_lines(failed))


# --- state, import, unlock ----------------------------------------------------------------------


def state_list(state: State) -> Screen:
    """One tab-separated line per address; the count, serial and lineage on stderr."""
    lines = []
    for address, entry in sorted(state.entries.items()):
        retired = entry.original_retired or "not retired"
        lines.append(
            f"{address}\tclone {entry.clone_id}\tsource {entry.source_id}\t"
            f"original {entry.original}: {retired}"
        )
    summary = (
        f"{count(len(state.entries), 'address')} (serial {state.serial}, "
        f"lineage {state.lineage or 'none'})\n"
    )
    return Screen(out=_lines(lines), err=summary)


def state_entry(entry: StateEntry) -> Screen:
    """`state show`: the whole entry as JSON."""
    return Screen(out=entry.model_dump_json(indent=2) + "\n")


def state_forgotten(address: str, clone_id: str) -> Screen:
    return Screen(out=f"forgot {address}; its clone {clone_id} was left on the server as it is\n")


def state_copied(origin: str, destination: str, done: Transfer) -> Screen:
    """What `state push` / `state pull` did."""
    if done.after is None:
        return Screen(
            out=f"{destination} already holds this state (serial {done.before.serial}); "
            "nothing copied\n"
        )
    replaced = (
        "an empty state"
        if done.before.lineage is None
        else f"lineage {done.before.lineage} serial {done.before.serial}"
    )
    return Screen(
        out=f"copied {count(len(done.after.entries), 'address')} from {origin} to "
        f"{destination}: lineage {done.after.lineage} serial {done.after.serial} "
        f"(replaced {replaced})\n"
    )


def imported(address: str, entry: StateEntry) -> Screen:
    return Screen(out=f"imported {entry.clone_id} as {address}; run `jobspec plan` to verify it\n")


def lock_broken(holder: LockInfo) -> Screen:
    return Screen(out=f"broke the lock held by {holder.describe()}\n")


# --- drift and fmt ------------------------------------------------------------------------------


def drift_report(found: Sequence[Drift], *, output_format: str) -> Screen:
    """Drift findings as text (a count on stderr) or as a JSON document."""
    if output_format == "json":
        document = {
            "drift": bool(found),
            "findings": [
                {"address": d.address, "kind": d.kind.name, "detail": d.detail} for d in found
            ],
        }
        return Screen(out=json.dumps(document, indent=2) + "\n")
    if not found:
        return Screen(out="No drift: the server matches the specs and the state.\n")
    return Screen(
        out=_lines(f"{item.address}: {item.kind.value}: {item.detail}" for item in found),
        err=f"{count(len(found), 'finding')} of drift\n",
    )


def fmt_report(changed: Sequence[Path], *, check: bool) -> Screen:
    """`fmt`: each file it rewrote, or (with --check) would rewrite."""
    verb = "would reformat" if check else "reformatted"
    out = _lines(f"{verb} {path}" for path in changed)
    if check and changed:
        return Screen(
            out=out, err=f"{count(len(changed), 'file')} would change; run `jobspec fmt`\n"
        )
    return Screen(out=out)


def apply_interrupted(
    signal_name: str, *, steps: int, finished: int, total: int | None, saved_plan: bool
) -> Screen:
    """What an apply stopped by Ctrl-C or SIGTERM did, and how to finish the rest."""
    if total is None:
        done = "before anything was applied; nothing was changed"
    else:
        done = f"after {finished} of {total} address(es) finished ({steps} step(s) done)"
    again = (
        "run `jobspec apply` (without the saved plan, which is now stale) to finish the rest"
        if saved_plan and total is not None
        else "run `jobspec apply` again to finish the rest"
    )
    return Screen(
        err=f"interrupted by {signal_name} {done}.\n"
        "The state records every step that was done, and the state lock is released.\n"
        f"hint: {again}; a call that was in flight is looked for first, never sent twice.\n"
    )
