"""Plan → text | json | markdown: pure string functions, no terminal or file access.

Colour is a parameter: a `Paint` function the CLI makes from rich (which decides from the
terminal, NO_COLOR, FORCE_COLOR and TERM), given style names only; this module knows no escape
code, and without one the same function gives golden-testable output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jobspec.mdsafe import code, fence, html_code, one_line
from jobspec.model import RetireHow
from jobspec.plan import Action, ActionKind, FieldChange, Plan, Step, StepOp
from jobspec.scrub import shorten

MARKDOWN_LIMIT = 60_000
VALUE_LIMIT = 400  # characters of one field value shown in a text or markdown plan

Paint = Callable[[str, str], str]
"""`paint(text, style)`: `text` in the named style, one of `STYLES`."""
STYLES = ("create", "update", "replace", "retire", "prune", "orphan", "danger", "warning")
"""The styles a text plan asks for: an action's kind for its heading, `danger` for the delete
banner, `warning` for the warnings' heading."""


def plain(text: str, style: str) -> str:
    """The `Paint` that leaves text as it is: no colour."""
    return text


_SUMMARY_WORDS = [
    ("create", "to create"),
    ("update", "to update"),
    ("replace", "to replace"),
    ("retire_only", "only retiring"),
    ("prune", "to prune"),
    ("noop", "unchanged"),
    ("orphan", "orphaned"),
]


def summary_line(plan: Plan) -> str:
    """`Plan: 2 to create, … 1 orphaned. Jobs to retire: 4 (1 to delete, 3 to set manual).`

    From the plan's one tally (`Plan.summary`): the jobs to retire are always the deletes
    plus the set-manuals, whichever action retires them."""
    counts = plan.summary
    head = "Plan:" if plan.has_changes else "No changes."
    parts = [f"{counts[key]} {words}" for key, words in _SUMMARY_WORDS]
    retire = (
        f"{counts['retire']} ({counts['delete']} to delete, {counts['set_manual']} to set manual)"
    )
    return f"{head} " + ", ".join(parts) + f". Jobs to retire: {retire}."


_BANNER_NAMES = 5


def delete_banner(plan: Plan) -> str | None:
    """One line naming the jobs the plan deletes (None when it deletes none): a plan's first
    and last line, so that nobody approves a delete without reading it."""
    deletes = plan.deletes
    if not deletes:
        return None
    jobs = "job" if len(deletes) == 1 else "jobs"
    named = [
        f"{job_label(step.job_id, plan.names)} ({action.address}: {step.role.replace('_', ' ')})"
        for action, step in deletes[:_BANNER_NAMES]
    ]
    more = f" and {len(deletes) - _BANNER_NAMES} more" if len(deletes) > _BANNER_NAMES else ""
    return (
        f"WARNING: this plan DELETES {len(deletes)} {jobs} on the server (deleting a job cancels "
        f"its running transfer): " + "; ".join(named) + more + "."
    )


def job_label(job_id: str | None, names: Mapping[str, str]) -> str:
    """A job as a reviewer recognises it: its id, then its name when the plan read one."""
    if job_id is None:
        return "the new clone"
    name = names.get(job_id)
    if name is None:
        return job_id
    return f"{job_id} {json.dumps(shorten(name), ensure_ascii=False)}"


def value(item: Any) -> str:
    """A field value as the reader should see it: JSON, so strings are quoted; a long one
    (a server's 10 MB name) is shortened, keeping both ends."""
    if item is None:
        return "(unset)"
    return shorten(json.dumps(item, ensure_ascii=False, sort_keys=True), VALUE_LIMIT)


def named_value(path: str, item: Any, connections: Mapping[str, str]) -> str:
    """`value(item)`, with the connection's name beside a connection id the plan knows:
    `"5dc5…" ("SharePoint Prod")`."""
    shown = value(item)
    if path.endswith("connection.id") and isinstance(item, str) and item in connections:
        return f"{shown} ({value(connections[item])})"
    return shown


def describe_step(step: Step, names: Mapping[str, str] | None = None) -> str:
    """One step in words, for text and markdown; `names` puts job names beside ids."""
    known = names or {}
    job = job_label(step.job_id, known)
    if step.op is StepOp.clone:
        name = (step.body or {}).get("name")
        named = f" as {value(name)}" if isinstance(name, str) else ""
        return f"clone {step.role} {job}{named} with the overrides"
    if step.op is StepOp.verify:
        return "verify the new clone (GET)"
    if step.op is StepOp.patch:
        return f"patch clone {job}"
    if step.op is StepOp.move:
        old = (step.body or {}).get("from")
        return f"move the state entry of {old} to this address (one journal record)"
    if step.op is StepOp.forget:
        return "forget the address in state"
    if step.op is StepOp.hold:
        return f"set schedule to manual on original {job} and wait for its run to end"
    if step.op is StepOp.start:
        return (
            f"start the first run of clone {job}"
            if step.job_id
            else "start the new clone's first run"
        )
    if step.op is StepOp.await_run:
        accept = (step.body or {}).get("accept")
        ends = " or ".join(str(status) for status in accept) if isinstance(accept, list) else "?"
        return f"go on only once that run ended {ends} (else: clone to manual, stop here)"
    if step.op is StepOp.restore:
        return f"put original {job} back on its schedule"
    if step.op is StepOp.record and step.role == "source":
        return f"record in state that source {job}'s settings now are accepted"
    if step.op is StepOp.record:
        done = "deleted" if step.how is RetireHow.deleted else "on a manual schedule"
        return f"record in state that {step.role.replace('_', ' ')} {job} is {done}"
    what = "DELETE" if step.how is RetireHow.deleted else "set schedule to manual on"
    label = step.role.replace("_", " ")
    waits = " once it is not running (wait_for_idle)" if step.wait_for_idle else ""
    renamed = (step.body or {}).get("name")
    rename = f" and rename it {value(renamed)}" if isinstance(renamed, str) else ""
    return f"{what} {label} {job}{rename}{waits}"


def _change_line(change: FieldChange, kind: ActionKind, connections: Mapping[str, str]) -> str:
    mark = " (forces replace)" if change.immutable and kind is ActionKind.replace else ""
    detail = f" ({change.detail})" if change.detail else ""
    before = named_value(change.path, change.before, connections)
    after = named_value(change.path, change.after, connections)
    return f"{change.path}: {before} → {after}{detail}{mark}"


def _action_lines(
    action: Action, names: Mapping[str, str], connections: Mapping[str, str]
) -> Iterator[str]:
    for reason in action.reasons:
        yield f"# {reason}"
    if action.cutover is not None and action.cutover.phase == "new":
        yield f"# cutover: verified: {action.cutover.next}"
    for change in action.changes:
        yield _change_line(change, action.kind, connections)
    for number, step in enumerate(action.steps, start=1):
        yield f"{number}. {describe_step(step, names)}"


def _deletes(action: Action) -> bool:
    return any(step.how is RetireHow.deleted for step in action.steps)


def render_text(plan: Plan, *, paint: Paint = plain) -> str:
    """Terraform-like: a summary, then each changing address with its fields and steps.

    A plan that deletes a job says so on its first and on its last line; a plan with changes
    repeats its summary at the bottom, where a long plan's reader ends up. `paint` colours the
    headings and the banner.
    """
    banner = delete_banner(plan)
    lines = [paint(banner, "danger")] if banner else []
    lines.append(summary_line(plan))
    for action in plan.actions:
        if action.kind is ActionKind.noop:
            continue
        where = f"  ({action.location})" if action.location else ""
        head = f"{action.kind.mark} {action.address}: {action.kind.value}"
        lines.append("")
        lines.append(paint(head, action.kind.value) + where)
        shown = _action_lines(action, plan.names, plan.connections)
        lines.extend(f"    {line}" for line in shown)
    if plan.warnings:
        lines.append("")
        lines.append(paint("Warnings:", "warning"))
        for warning in plan.warnings:
            where = f"{warning.location}: " if warning.location else ""
            lines.append(f"  ! {where}{warning.address}: {warning.message}")
    if plan.has_changes:
        lines += ["", summary_line(plan)]
        if banner:
            lines.append(paint(banner, "danger"))
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    """The versioned plan document; the same bytes `plan --out` saves."""
    return plan.to_json()


def render_markdown(
    plan: Plan, *, limit: int = MARKDOWN_LIMIT, full_plan_url: str | None = None
) -> str:
    """A PR comment a reviewer can scan: the deletes first, one line per job, then a summary
    table, then each changed address collapsed, its field changes in a `diff` fence.

    The first and the last line carry the summary, in bold when the plan deletes a job. Every
    string that came from the server or a spec reaches the markdown through `mdsafe` only, so a
    job name cannot write a link, a mention or HTML into the comment. A plan too long for
    `limit` keeps the whole delete list and points to the full plan: `full_plan_url` when the
    caller knows it, else the CI run's `jobspec-plan` artifact, as the example pipelines save.
    """
    counts = plan.summary
    deletes = plan.deletes
    closing = f"**{_delete_warning(len(deletes))}**" if deletes else f"_{summary_line(plan)}_"
    title = f"### jobspec plan: deletes {_jobs(len(deletes))}" if deletes else "### jobspec plan"
    where = _full_plan(full_plan_url)
    head = [closing, "", title, ""]
    delete_lines = [_delete_line(action, step, plan.names) for action, step in deletes]
    budget = limit - 1_500  # the summary table, the notices and the closing line
    listed = 0
    for line in delete_lines:
        if sum(len(kept) + 1 for kept in head) + len(line) > budget:
            break
        head.append(line)
        listed += 1
    if listed < len(delete_lines):
        head.append(f"- _…and {len(delete_lines) - listed} more deletes; {where}._")
    if deletes:
        head.append("")
    head += [summary_line(plan), ""]
    head += ["| action | count |", "| --- | ---: |"]
    head += [f"| {key.replace('_', ' ')} | {counts[key]} |" for key, _ in _SUMMARY_WORDS]
    head += [f"| jobs to retire | {counts['retire']} |"]
    head += [f"| **jobs to delete** | **{counts['delete']}** |"]
    head += [f"| jobs to set manual | {counts['set_manual']} |"]
    head.append("")
    if plan.warnings:
        head.append("**Warnings**")
        head.append("")
        for warned, w in enumerate(plan.warnings):
            line = (
                f"- {code(w.address)}{f' ({code(w.location)})' if w.location else ''}: "
                f"{code(w.message)}"
            )
            if sum(len(kept) + 1 for kept in head) + len(line) > budget + 1_000:
                head.append(f"- _…and {len(plan.warnings) - warned} more warnings; {where}._")
                break
            head.append(line)
        head.append("")
    changing = [action for action in plan.actions if action.kind is not ActionKind.noop]
    ordered = [a for a in changing if _deletes(a)] + [a for a in changing if not _deletes(a)]
    blocks = [_markdown_block(action, plan.names, plan.connections) for action in ordered]
    text = "\n".join(head) + "\n"  # a blank line: a block must not join the list above
    tail = f"\n{closing}\n"
    shown = 0
    for block in blocks:
        if len(text) + len(block) + len(tail) + 400 > limit:
            break
        text += block
        shown += 1
    if shown < len(blocks):
        text += (
            f"\n_…{len(blocks) - shown} more of {len(blocks)} changed addresses cut to keep this "
            f"comment under {limit:,} characters; {where}._\n"
        )
    return text + tail


def _jobs(number: int) -> str:
    return f"{number} job" if number == 1 else f"{number} jobs"


def _delete_warning(number: int) -> str:
    return (
        f"WARNING: this plan DELETES {_jobs(number)} on the server (deleting a job cancels its "
        "running transfer)."
    )


def _full_plan(url: str | None) -> str:
    """Where the reader of a cut comment finds the whole plan."""
    if url:
        target = one_line(url).replace("<", "%3C").replace(">", "%3E")
        return f"the full plan (text and JSON) is [here](<{target}>)"
    return "the full plan (text and JSON) is this CI run's `jobspec-plan` artifact"


def _delete_line(action: Action, step: Step, names: Mapping[str, str]) -> str:
    """`- DELETE `id` `name` — `address` (clone)`: one deleted job, on one line."""
    job = code(step.job_id) if step.job_id else "the new clone"
    name = names.get(step.job_id) if step.job_id else None
    named = f" {code(shorten(name))}" if name is not None else ""
    return f"- DELETE {job}{named} — {code(action.address)} ({step.role.replace('_', ' ')})"


def _diff_lines(
    action: Action, names: Mapping[str, str], connections: Mapping[str, str]
) -> Iterator[str]:
    """The action for a `diff` fence: reasons as `#` lines, each field change as a `@@ path @@`
    line with its `-` before and `+` after lines, the steps as context (a DELETE in red)."""
    for reason in action.reasons:
        yield f"# {reason}"
    for change in action.changes:
        mark = " (forces replace)" if change.immutable and action.kind is ActionKind.replace else ""
        detail = f" ({change.detail})" if change.detail else ""
        yield f"@@ {change.path}{mark}{detail} @@"
        yield f"- {named_value(change.path, change.before, connections)}"
        yield f"+ {named_value(change.path, change.after, connections)}"
    for number, step in enumerate(action.steps, start=1):
        deletes = step.op is StepOp.retire and step.how is RetireHow.deleted
        yield f"{'-' if deletes else ' '} {number}. {describe_step(step, names)}"


def _markdown_block(
    action: Action, names: Mapping[str, str], connections: Mapping[str, str]
) -> str:
    where = f" — {html_code(action.location)}" if action.location else ""
    kind = f"{action.kind.value} (deletes a job)" if _deletes(action) else action.kind.value
    head = f"{html_code(f'{action.kind.mark} {action.address}')}: {kind}{where}"
    body = fence(list(_diff_lines(action, names, connections)), info="diff")
    return f"<details><summary>{head}</summary>\n\n{body}\n</details>\n"
