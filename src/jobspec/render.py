"""Plan → text | json | markdown: pure string functions, no terminal or file access.

Colour is a parameter (the CLI decides from the terminal and NO_COLOR), so the same function
gives golden-testable output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from jobspec.model import RetireHow
from jobspec.plan import Action, ActionKind, FieldChange, Plan, Step, StepOp
from jobspec.scrub import shorten

MARKDOWN_LIMIT = 60_000
VALUE_LIMIT = 400  # characters of one field value shown in a text or markdown plan

_COLOURS = {
    ActionKind.create: "32",  # green
    ActionKind.update: "33",  # yellow
    ActionKind.replace: "35",  # magenta
    ActionKind.retire: "31",  # red
    ActionKind.prune: "31",
    ActionKind.orphan: "36",  # cyan
    ActionKind.noop: "0",
}

_SUMMARY_WORDS = [
    (ActionKind.create, "to create"),
    (ActionKind.update, "to update"),
    (ActionKind.replace, "to replace"),
    (ActionKind.retire, "to retire"),
    (ActionKind.prune, "to prune"),
    (ActionKind.noop, "unchanged"),
    (ActionKind.orphan, "orphaned"),
]


def summary_line(plan: Plan) -> str:
    counts = plan.summary
    head = "Plan:" if plan.has_changes else "No changes."
    parts = [f"{counts[kind.value]} {words}" for kind, words in _SUMMARY_WORDS]
    return f"{head} " + ", ".join(parts) + "."


def value(item: Any) -> str:
    """A field value as the reader should see it: JSON, so strings are quoted; a long one
    (a server's 10 MB name) is shortened, keeping both ends."""
    if item is None:
        return "(unset)"
    return shorten(json.dumps(item, ensure_ascii=False, sort_keys=True), VALUE_LIMIT)


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code != "0" else text


def _short(job_id: str | None) -> str:
    return job_id or "the new clone"


def describe_step(step: Step) -> str:
    """One step in words, for text and markdown."""
    if step.op is StepOp.clone:
        return f"clone {step.role} {step.job_id} with the overrides"
    if step.op is StepOp.verify:
        return "verify the new clone (GET)"
    if step.op is StepOp.patch:
        return f"patch clone {step.job_id}"
    if step.op is StepOp.forget:
        return "forget the address in state"
    what = "delete" if step.how is RetireHow.deleted else "set schedule to manual on"
    label = step.role.replace("_", " ")
    waits = " once it is not running (wait_for_idle)" if step.wait_for_idle else ""
    return f"{what} {label} {_short(step.job_id)}{waits}"


def _change_line(change: FieldChange, kind: ActionKind) -> str:
    mark = " (forces replace)" if change.immutable and kind is ActionKind.replace else ""
    return f"{change.path}: {value(change.before)} → {value(change.after)}{mark}"


def _action_lines(action: Action) -> Iterator[str]:
    for reason in action.reasons:
        yield f"# {reason}"
    for change in action.changes:
        yield _change_line(change, action.kind)
    for number, step in enumerate(action.steps, start=1):
        yield f"{number}. {describe_step(step)}"


def render_text(plan: Plan, *, color: bool = False) -> str:
    """Terraform-like: a summary, then each changing address with its fields and steps."""
    lines = [summary_line(plan)]
    for action in plan.actions:
        if action.kind is ActionKind.noop:
            continue
        code = _COLOURS[action.kind]
        where = f"  ({action.location})" if action.location else ""
        head = f"{action.kind.mark} {action.address}: {action.kind.value}"
        lines.append("")
        lines.append(_paint(head, code, color) + where)
        lines.extend(f"    {line}" for line in _action_lines(action))
    if plan.warnings:
        lines.append("")
        lines.append(_paint("Warnings:", "33", color))
        for warning in plan.warnings:
            where = f"{warning.location}: " if warning.location else ""
            lines.append(f"  ! {where}{warning.address}: {warning.message}")
    return "\n".join(lines) + "\n"


def render_json(plan: Plan) -> str:
    """The versioned plan document; the same bytes `plan --out` saves."""
    return plan.to_json()


def render_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: a summary table, then collapsible details, cut to stay under `limit`."""
    counts = plan.summary
    head = ["### jobspec plan", "", summary_line(plan), ""]
    head += ["| action | count |", "| --- | ---: |"]
    head += [f"| {kind.value} | {counts[kind.value]} |" for kind, _ in _SUMMARY_WORDS]
    head.append("")
    if plan.warnings:
        head.append("**Warnings**")
        head.append("")
        head += [
            f"- `{w.address}`{f' ({w.location})' if w.location else ''}: {_escape(w.message)}"
            for w in plan.warnings
        ]
        head.append("")
    blocks = [
        _markdown_block(action) for action in plan.actions if action.kind is not ActionKind.noop
    ]
    text = "\n".join(head)
    shown = 0
    for block in blocks:
        if len(text) + len(block) + 200 > limit:
            break
        text += block
        shown += 1
    if shown < len(blocks):
        text += (
            f"\n_…{len(blocks) - shown} more of {len(blocks)} changed addresses cut to keep this "
            f"comment under {limit:,} characters; run `jobspec plan` to see them all._\n"
        )
    return text


def _markdown_block(action: Action) -> str:
    where = f" — `{action.location}`" if action.location else ""
    body = "\n".join(_action_lines(action)).replace("```", "ˋˋˋ")
    return (
        f"<details><summary><code>{action.kind.mark} {_escape(action.address)}</code>: "
        f"{action.kind.value}{where}</summary>\n\n```\n{body}\n```\n\n</details>\n"
    )


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
