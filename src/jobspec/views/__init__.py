"""What each command shows: its human and JSON output, built in one place from plain values.

Pure string work, like `render` (which draws plans). Each view returns a `Screen`: what goes
to stdout (the command's result, for pipes) and what goes to stderr (notes, counts, hints),
so the CLI only prints, and golden files pin every command's output.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobspec.applier import ApplyResult
from jobspec.drift import Drift
from jobspec.errors import Problem
from jobspec.generate import Generated
from jobspec.jobroles import connection_of, path_of
from jobspec.mdsafe import code
from jobspec.model import LiveJob, StateEntry
from jobspec.plan import Plan, Step
from jobspec.render import Paint, plain, render_json, render_markdown, render_text
from jobspec.scrub import shorten
from jobspec.state import Intent, LockInfo, Restored, State, Transfer

__all__ = [
    "APPLY_EVENTS_VERSION",
    "Screen",
    "apply_event",
    "apply_result_fields",
    "apply_summary",
    "batch_imported",
    "count",
    "drift_report",
    "fmt_report",
    "generated",
    "github_annotation",
    "gitlab_issue",
    "imported",
    "interrupted_notes",
    "lock_broken",
    "lock_waiting",
    "plan_saved",
    "plan_view",
    "problem_fields",
    "state_copied",
    "state_entry",
    "state_forgotten",
    "state_list",
    "state_restored",
    "step_fields",
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


def problem_fields(problem: Problem) -> dict[str, object]:
    """One problem as `validate --format json` gives it."""
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "message": problem.message,
        "hint": problem.hint,
    }


def gitlab_issue(problem: Problem) -> dict[str, object]:
    """One problem as a GitLab code-quality issue; the fingerprint (which GitLab compares
    between pipelines) is the problem's position and words, so an unchanged one stays one."""
    message = f"{problem.message} ({problem.hint})" if problem.hint else problem.message
    where = f"{problem.file}:{problem.line}:{problem.column}:{message}"
    return {
        "description": message,
        "check_name": "jobspec-validate",
        "fingerprint": hashlib.sha256(where.encode("utf-8")).hexdigest(),
        "severity": "major",
        "location": {"path": problem.file, "lines": {"begin": problem.line}},
    }


def validate_report(
    *, jobs: int, files: int, problems: Sequence[Problem], output_format: str
) -> Screen:
    """`ok: N jobs in M files`, or one line per problem and a count on stderr; `json` is one
    object, `gitlab` a GitLab code-quality report (a list, empty when clean)."""
    with_problems = len({problem.file for problem in problems})
    summary = f"{count(len(problems), 'problem')} in {count(with_problems, 'file')}\n"
    if output_format == "json":
        document = {
            "valid": not problems,
            "jobs": jobs,
            "files": files,
            "problems": [problem_fields(problem) for problem in problems],
        }
        return Screen(out=json.dumps(document, indent=2) + "\n", err=summary if problems else "")
    if output_format == "gitlab":
        found = [gitlab_issue(problem) for problem in problems]
        return Screen(out=json.dumps(found, indent=2) + "\n", err=summary if problems else "")
    if not problems:
        return Screen(out=f"ok: {count(jobs, 'job')} in {count(files, 'file')}\n")
    shown = (github_annotation(p) if output_format == "github" else str(p) for p in problems)
    return Screen(out=_lines(shown), err=summary)


def spec_problems(problems: Sequence[Problem]) -> Screen:
    """Spec problems found by a command that needs valid specs: all of them, on stderr."""
    return Screen(err=_lines(str(problem) for problem in problems))


# --- plan and apply -----------------------------------------------------------------------------


def plan_view(
    plan: Plan,
    *,
    output_format: str,
    paint: Paint = plain,
    full_plan_url: str | None = None,
    locked_by: LockInfo | None = None,
) -> Screen:
    """A plan as text (optionally coloured), JSON or markdown (a pull-request comment, which
    links `full_plan_url` when it is cut).

    `locked_by`: the holder of the state lock when the plan was made (plan takes no lock). An
    apply may be half done, so its first line says so (on stderr for JSON, which stays JSON).
    """
    note = ""
    if locked_by is not None:
        note = (
            f"NOTE: the state is locked by {locked_by.describe()}: an apply may be changing "
            "the jobs right now, so this plan may show a half-applied world; plan again once "
            "it is done\n"
        )
    if output_format == "json":
        return Screen(out=render_json(plan), err=note)
    if output_format == "markdown":
        shown = render_markdown(plan, full_plan_url=full_plan_url)
        if locked_by is not None:  # the holder is text from a file: a code span, no mention
            shown = (
                f"**NOTE: the state is locked** by {code(locked_by.describe())}: an apply may "
                "be changing the jobs right now; plan again once it is done.\n\n" + shown
            )
        return Screen(out=shown)
    return Screen(out=note + render_text(plan, paint=paint))


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


APPLY_EVENTS_VERSION = 1
"""`format_version` of every `apply --json` line; raised when a field changes meaning."""


def apply_event(event: str, *, time: str, **fields: object) -> str:
    """One `apply --json` line (with its newline): a JSON object naming its `event`."""
    document = {"format_version": APPLY_EVENTS_VERSION, "event": event, "time": time, **fields}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


def step_fields(plan: Plan, step: Step, status: str, detail: str | None) -> dict[str, object]:
    """What an `apply --json` step line says about one step of `plan`."""
    fields: dict[str, object] = {
        "status": status,
        "op": step.op.value,
        "role": step.role,
        "job_id": step.job_id,
        "job_name": plan.names.get(step.job_id) if step.job_id else None,
    }
    if step.how is not None:
        fields["how"] = step.how.value
    if status == "failed":
        fields["error"] = detail
    elif status == "finished":
        fields["result_job_id"] = detail
    return fields


def apply_result_fields(result: ApplyResult | None) -> dict[str, object]:
    """The closing `apply --json` line: ok, counts per outcome, each failure."""
    if result is None:
        return {"ok": True, "changes": False, "counts": {}, "failures": []}
    fields: dict[str, object] = {
        "ok": result.ok,
        "changes": True,
        "counts": dict(result.counts),
        "failures": [{"address": a, "error": message} for a, message in result.failures],
    }
    if result.waiting:  # verified cutovers whose clone's first run has not ended
        fields["waiting"] = [{"address": a, "cutover": text} for a, text in result.waiting]
    return fields


def apply_summary(result: ApplyResult) -> Screen:
    """The closing line of an apply; failures, and what to do about them, on stderr."""
    counts = dict(result.counts)
    words = ["created", "updated", "replaced", "pruned", "unchanged", "failed"]
    done = ", ".join(f"{counts[word]} {word}" for word in words)
    if counts["retire_only"]:
        done += f", {counts['retire_only']} only retiring"
    retired = (
        f"{counts['retired']} jobs retired ({counts['deleted']} deleted, "
        f"{counts['set_manual']} set to manual)"
    )
    out = f"Apply {'complete' if result.ok else 'finished with failures'}: {done}; {retired}.\n"
    if result.waiting:
        out += _lines(
            [
                f"{len(result.waiting)} verified cutover(s) wait for their clone's first run; "
                "a later apply (or `apply --wait DURATION`) retires their originals:",
                *(f"  waiting: {address}: {text}" for address, text in result.waiting),
            ]
        )
    if result.ok:
        return Screen(out=out)
    failed = [f"failed: {address}: {message}" for address, message in result.failures]
    failed.append("hint: every completed step is saved; fix the cause and run apply again")
    return Screen(out=out, err=_lines(failed))


# --- state, import, unlock ----------------------------------------------------------------------


def state_list(state: State, *, output_format: str = "text") -> Screen:
    """One tab-separated line per address; the count, serial and lineage on stderr. As JSON:
    one object, the state's serial, lineage and server and each address's whole entry."""
    if output_format == "json":
        document = {
            "serial": state.serial,
            "lineage": state.lineage,
            "server": state.server,
            "entries": [
                {"address": address, **state.entries[address].model_dump(mode="json")}
                for address in sorted(state.entries)
            ],
        }
        return Screen(out=json.dumps(document, indent=2, ensure_ascii=False) + "\n")
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


def state_forgotten(address: str, clone_id: str | None) -> Screen:
    if clone_id is None:
        return Screen(out=f"forgot {address}'s unfinished calls; it had no clone in state\n")
    return Screen(out=f"forgot {address}; its clone {clone_id} was left on the server as it is\n")


def state_moved(old: str, new: str, clone_id: str) -> Screen:
    return Screen(out=f"moved {old} to {new}; its clone {clone_id} moved with it\n")


def state_repointed(old: str | None, new: str) -> Screen:
    before = f" (was {old})" if old else ""
    return Screen(out=f"the state now belongs to {new}{before}\n")


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


def state_restored(done: Restored, *, backup: str) -> Screen:
    """What `state restore` did, and what the person must know next."""
    kept = "".join(f"kept the replaced file as {path}\n" for path in done.kept)
    return Screen(
        out=f"restored {count(len(done.state.entries), 'address')} from {backup} (its serial "
        f"{done.backup_serial}) as serial {done.state.serial}, a new serial epoch: plans saved "
        f"before the restore no longer apply\n{kept}",
        err="changes made since the backup are not in state: plan again; a clone made since "
        "is refused by name until `jobspec import ADDRESS JOB_ID` adopts it\n",
    )


def imported(address: str, entry: StateEntry) -> Screen:
    return Screen(out=f"imported {entry.clone_id} as {address}; run `jobspec plan` to verify it\n")


def batch_imported(imported: Mapping[str, StateEntry], already: Sequence[str]) -> Screen:
    """`import --from`: one line per adopted job, and the rows state already held."""
    out = _lines(f"imported {entry.clone_id} as {address}" for address, entry in imported.items())
    notes = [f"{address}: already imported with this job; left as it is" for address in already]
    summary = f"{count(len(imported), 'job')} imported"
    if already:
        summary += f", {len(already):,} already in state"
    notes.append(f"{summary}; `jobspec plan` verifies each clone against its spec")
    return Screen(out=out, err=_lines(notes))


LEFT_OUT_SHOWN = 20
"""`generate` names each job it left out up to this many, then counts the rest."""


def jobs_listed(
    jobs: Sequence[LiveJob], *, roles: Mapping[str, str], listed: int, output_format: str
) -> Screen:
    """`jobs`: one line per job (id, name, kind/status, both endpoints, its role), or JSON;
    how many of how many on stderr. Names and paths are the server's: shortened, quoted."""
    note = f"{count(len(jobs), 'job')} of {count(listed, 'live job')}\n"
    sides = ("source", "destination")
    if output_format == "json":
        rows = [
            {
                "id": job.id,
                "name": job.name,
                "kind": job.kind,
                "status": job.status,
                **{
                    side: {
                        "connection": connection_of(job.raw, side),
                        "path": path_of(job.raw, side),
                    }
                    for side in sides
                },
                "role": roles.get(job.id, "unmanaged"),
            }
            for job in jobs
        ]
        return Screen(out=json.dumps(rows, indent=2, ensure_ascii=False) + "\n", err=note)

    def end(job: LiveJob, side: str) -> str:
        path = json.dumps(shorten(path_of(job.raw, side) or ""), ensure_ascii=False)
        return f"{connection_of(job.raw, side) or '?'}:{path}"

    lines = [
        f"{job.id}\t{json.dumps(shorten(job.name), ensure_ascii=False)}\t"
        f"{job.kind}/{job.status or '?'}\t{end(job, 'source')} → {end(job, 'destination')}\t"
        f"{roles.get(job.id, 'unmanaged')}"
        for job in jobs
    ]
    return Screen(out=_lines(lines), err=note)


def discovered(imported: Mapping[str, StateEntry], left: Sequence[tuple[str, str]]) -> Screen:
    """`import --discover`: each adopted address and its clone on stdout; on stderr each
    address left and why, then the counts and what to run next."""
    lines = [f"{address}\t{entry.clone_id}" for address, entry in sorted(imported.items())]
    notes = [f"left {address}: {reason}" for address, reason in left]
    notes.append(
        f"{count(len(imported), 'job')} adopted, {count(len(left), 'address')} left; "
        "`jobspec plan` verifies each clone against its spec"
    )
    return Screen(out=_lines(lines), err=_lines(notes))


def generated(made: Generated, *, text: str, listed: int, out: str | None) -> Screen:
    """`generate`: the YAML on stdout (unless written to a file), and on stderr what was
    generated from how many jobs, which jobs were left out and why."""
    notes = []
    specs = count(len(made.specs), "spec")
    if not made.specs:
        notes.append(f"no spec generated (of {count(listed, 'live job')})")
    elif out is not None:
        notes.append(f"wrote {specs} to {out} (of {count(listed, 'live job')})")
    else:
        notes.append(f"generated {specs} (of {count(listed, 'live job')})")
    if made.left_out:
        notes.append(f"left out {count(len(made.left_out), 'selected job')}:")
        for left in made.left_out[:LEFT_OUT_SHOWN]:
            name = json.dumps(shorten(left.job.name), ensure_ascii=False)
            notes.append(f"  {left.job.id} {name}: {left.reason}")
        if len(made.left_out) > LEFT_OUT_SHOWN:
            notes.append(f"  and {len(made.left_out) - LEFT_OUT_SHOWN:,} more")
    if made.adoptable:
        notes.append(
            f"{count(len(made.adoptable), 'job')} already "
            f"{'bears' if len(made.adoptable) == 1 else 'bear'} the clone name of a generated "
            "spec (made by hand?); to adopt rather than clone again, put these rows in a file "
            "and run `jobspec import --from FILE`:"
        )
        notes.extend(f"  {address},{job.id}" for address, job in made.adoptable)
    if made.specs:
        notes.append("next: review them, then `jobspec validate` and `jobspec plan`")
    return Screen(out=text if out is None else "", err=_lines(notes))


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
    """What an apply stopped by Ctrl-C or SIGTERM did, and how to finish the rest.

    `total` None: it stopped before applying began (planning, or at the question), so there is
    nothing to finish, only the run to start again.
    """
    if total is None:
        return Screen(
            err=f"interrupted by {signal_name} before anything was applied; nothing was changed, "
            "and the state lock is released.\n"
            "hint: run `jobspec apply` again when you are ready.\n"
        )
    again = (
        "run `jobspec apply` (without the saved plan, which is now stale) to finish the rest"
        if saved_plan
        else "run `jobspec apply` again to finish the rest"
    )
    return Screen(
        err=f"interrupted by {signal_name} after {finished} of {total} address(es) finished "
        f"({steps} step(s) done).\n"
        "The state records every step that was done, and the state lock is released.\n"
        f"hint: {again}; a call that was in flight is looked for first, never sent twice.\n"
    )
