"""Specs for jobs that already exist (`jobspec generate`): which jobs, their addresses, bodies
and the comment a reviewer reads above each. Pure: no I/O, no clock.

An admin adopting jobspec has hundreds of jobs, and a migration is "clone these 300 jobs, each
with one change". `commands.generate` lists the live jobs once and hands them here; this
module decides, and `spec.render_generated` writes the YAML. Every problem (a `--set` path
jobspec cannot manage, two clones with one name) is collected, so one run shows them all.

Addresses come from job names (lowercase, `[a-z0-9._-]`) and must be stable across runs: a
job whose name is unique gets the bare slug; jobs that share a slug (or whose slug a spec or
state already uses) all get the slug plus the start of their id, whatever order the server
lists them in.
"""

from __future__ import annotations

import difflib
import json
import re
import string
import typing
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from jobspec.endpoints import target_folder
from jobspec.errors import UsageError
from jobspec.jobroles import JobFilter, clone_names
from jobspec.model import (
    ADDRESS_RE,
    JOB_ID_RE,
    DesiredJob,
    JobSpec,
    LiveJob,
    OriginalPolicy,
    Overrides,
    StateEntry,
)
from jobspec.naming import name_key

__all__ = [
    "Assignment",
    "Generated",
    "LeftOut",
    "NewSpec",
    "Selection",
    "check_name_template",
    "derive_address",
    "generate",
    "parse_assignments",
]

MAX_SLUG = 60
"""Addresses derived from names are cut to this length (before any id suffix)."""

SERVER_FIELDS = frozenset(
    {
        "id",
        "status",
        "type",
        "links",
        "created_on",
        "created_by",
        "modified_on",
        "modified_by",
        "execution",
        "previous_execution",
        "execute_on",
        "health",
        "discriminator",
        "size_estimate",
        "parent_id",
    }
)
"""Top-level fields the server keeps (dryviq-api.md): not configuration, never overridden."""

NESTED_SERVER_FIELDS = frozenset({"event_position", "completions", "failures", "executions"})
"""Server-maintained fields below the top level (`transfer.*.event_position`, the
`stop_policy` counters)."""

PLACEHOLDERS = ("name", "id", "address")
"""What `--name TEMPLATE` may use: the source job's name and id, and the spec's address."""


# --- selection ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which live jobs get a spec: ids, or filters (all must match), or every job.

    `query` is the server's `q` and is applied by the listing; the rest are matched here.
    """

    ids: tuple[str, ...] = ()
    query: str | None = None
    category: str | None = None
    kind: str | None = None
    status: str | None = None
    every: bool = False
    where: JobFilter = field(default_factory=JobFilter)

    @property
    def filters(self) -> dict[str, str]:
        shown = {
            "--query": self.query,
            "--category": self.category,
            "--kind": self.kind,
            "--status": self.status,
        }
        return {flag: value for flag, value in shown.items() if value is not None} | (
            self.where.flags
        )

    def check(self) -> None:
        """Refuse an empty or contradictory selection, and ids that are not job ids."""
        if not self.ids and not self.filters and not self.every:
            raise UsageError(
                "say which jobs to generate specs for",
                hint="give job ids, or --query, --category, --kind, --status, --connection, "
                "--source-connection, --destination-connection, --path-prefix, or --all",
            )
        if self.every and (self.ids or self.filters):
            raise UsageError("--all selects every job: give it alone, without ids or filters")
        if self.ids and self.filters:
            raise UsageError(
                f"give job ids or filters, not both ({', '.join(self.filters)} with job ids)"
            )
        bad = [job_id for job_id in self.ids if not JOB_ID_RE.match(job_id)]
        if bad:
            raise UsageError(
                f"not a job id (32 lowercase hex digits): {', '.join(repr(b) for b in bad)}"
            )
        for flag, value in self.filters.items():
            if not value.strip():
                raise UsageError(f"{flag} needs a value that is not blank")

    def picks(self, job: LiveJob) -> bool:
        """Does `job` match the filters matched here (not `query`: the server applied it)?"""
        if self.ids:
            return job.id in self.ids
        if self.category is not None and not _in_category(job, self.category):
            return False
        if self.kind is not None and job.kind != self.kind:
            return False
        if not self.where.picks(job):
            return False
        return self.status is None or job.status == self.status


def _in_category(job: LiveJob, wanted: str) -> bool:
    """A category is matched by name (case-insensitively) or by id."""
    category = job.raw.get("category")
    if not isinstance(category, dict):
        return False
    name, ident = category.get("name"), category.get("id")
    by_name = isinstance(name, str) and name.casefold() == wanted.strip().casefold()
    return by_name or (ident is not None and str(ident) == wanted.strip())


# --- --set --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """One `--set PATH=VALUE`: a path under `overrides` (or `passthrough.`), a YAML value."""

    path: tuple[str, ...]
    value: Any
    given: str

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def parse_assignments(
    given: Sequence[str], read_value: Callable[[str], Any]
) -> tuple[list[Assignment], list[str]]:
    """The `--set` options as assignments, and every problem with them.

    `read_value` types a value as YAML (`spec.yaml_value`), raising ValueError with a reason.
    A path jobspec cannot manage is refused with the reason; so are two options that set the
    same field.
    """
    assignments: list[Assignment] = []
    problems: list[str] = []
    for text in given:
        path_text, equals, value_text = text.partition("=")
        if not equals or not path_text.strip():
            problems.append(f"--set {text}: expected PATH=VALUE, e.g. schedule.mode=manual")
            continue
        path = tuple(part.strip() for part in path_text.split("."))
        try:
            value = read_value(value_text)
        except ValueError as exc:
            problems.append(f"--set {text}: the value is not YAML: {exc}")
            continue
        assignment = Assignment(path=path, value=value, given=text)
        problem = _unmanageable(assignment) or _invalid_value(assignment)
        if problem and isinstance(value, int | float | bool) and not _unmanageable(assignment):
            # typed by the schema: a string field takes `2222…` or `true` as the text given
            as_text = Assignment(path=path, value=value_text.strip(), given=text)
            if _invalid_value(as_text) is None:
                assignment, problem = as_text, None
        if problem:
            problems.append(f"--set {text}: {problem}")
            continue
        for other in assignments:
            shorter = min(len(other.path), len(path))
            if other.path[:shorter] == path[:shorter]:
                problems.append(
                    f"--set {text}: `--set {other.given}` sets "
                    f"`{'.'.join(path[:shorter])}` too; set each field once"
                )
                break
        else:
            assignments.append(assignment)
    return assignments, problems


def _unmanageable(assignment: Assignment) -> str | None:
    """Why jobspec cannot manage this path on a clone, or None."""
    path = assignment.path
    if any(not part for part in path):
        return f"`{assignment.dotted}` has an empty field name"
    if path[0] == "passthrough":
        if len(path) == 1:
            return "give a field: passthrough.FIELD=VALUE"
        path = path[1:]
    if path[0] in SERVER_FIELDS or any(part in NESTED_SERVER_FIELDS for part in path[1:]):
        return (
            f"`{'.'.join(path)}` is kept by the server, not configuration: a clone cannot be "
            "given it"
        )
    if path[0] == "kind":
        return "a clone always has its source's kind"
    if assignment.path[0] == "passthrough":
        return None  # JobSpec refuses passthrough fields jobspec knows (`_invalid_value`)
    if path == ("name",):
        return "every clone needs a name of its own: use --name TEMPLATE, e.g. '{name} (2026)'"
    model: Any = Overrides
    for index, part in enumerate(path):
        if model is None:
            return f"`{'.'.join(path[:index])}` is a single value, not a mapping with `{part}`"
        field = model.model_fields.get(part)
        if field is None:
            dotted = ".".join(path[: index + 1])
            close = difflib.get_close_matches(part, list(model.model_fields), n=1, cutoff=0.6)
            suggestion = f" (did you mean `{close[0]}`?)" if close else ""
            return (
                f"jobspec does not know `{dotted}`{suggestion}; a field it does not model can "
                f"be set with --set passthrough.{assignment.dotted}=…"
            )
        model = _model_in(field.annotation)
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds (`X | None` → X), if it holds one."""
    for option in (*typing.get_args(annotation), annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


_ANY_SOURCE = "0" * 32


def _invalid_value(assignment: Assignment) -> str | None:
    """Why the value does not fit the field, or None: the spec models' own checks."""
    try:
        JobSpec.model_validate({"source": _ANY_SOURCE, **_bodies([assignment])})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = [str(part) for part in error["loc"][1:]]
        if error["type"] == "extra_forbidden":
            return f"{'.'.join(loc[:-1]) or 'overrides'}: unknown key `{loc[-1]}`"
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{'.'.join(loc) or assignment.dotted}: {message}"
    return None


def _bodies(assignments: Sequence[Assignment]) -> dict[str, dict[str, Any]]:
    """`overrides` and `passthrough` as the assignments set them (only the non-empty ones)."""
    bodies: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        path = assignment.path
        top, path = ("passthrough", path[1:]) if path[0] == "passthrough" else ("overrides", path)
        node = bodies.setdefault(top, {})
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = assignment.value
    return bodies


# --- names and addresses ------------------------------------------------------------------------


def check_name_template(template: str) -> None:
    """Refuse a `--name` template with an unknown placeholder, or one that is not a template."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(
            f"--name {template!r}: {exc}", hint="write a literal brace as {{ or }}"
        ) from None
    unknown = sorted({field for _, field, _, _ in parsed if field not in (None, *PLACEHOLDERS)})
    if unknown:
        raise UsageError(
            f"--name {template!r}: unknown placeholder "
            + ", ".join(f"{{{field}}}" for field in unknown),
            hint="placeholders are {name} (the job's name), {id} and {address}",
        )
    if not template.strip():
        raise UsageError("--name needs a template, e.g. --name '{name} (2026)'")


def _clone_name(template: str | None, job: LiveJob, address: str) -> str | None:
    if template is None:
        return None
    return template.format(name=job.name, id=job.id, address=address)


def derive_address(name: str) -> str:
    """A job name as an address: `Finance → SharePoint (2026)` is `finance-sharepoint-2026`."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", text)
    slug = re.sub(r"([-._])[-._]+", r"\1", slug).strip("-._")
    slug = slug[:MAX_SLUG].rstrip("-._")
    return slug or "job"


def _addresses(jobs: Sequence[LiveJob], taken: set[str]) -> dict[str, str]:
    """Job id → address: the bare slug where it is unique and free, else slug-<id prefix>."""
    by_slug: dict[str, list[LiveJob]] = {}
    for job in jobs:
        by_slug.setdefault(derive_address(job.name), []).append(job)
    used = set(taken)
    found: dict[str, str] = {}
    contested: list[tuple[str, LiveJob]] = []
    for slug, group in sorted(by_slug.items()):
        if len(group) == 1 and slug not in taken:
            found[group[0].id] = slug
            used.add(slug)
        else:
            contested.extend((slug, job) for job in group)
    for slug, job in sorted(contested, key=lambda pair: (pair[0], pair[1].id)):
        for length in (8, 12, 16, 32):
            address = f"{slug}-{job.id[:length]}"
            if address not in used:
                break
        found[job.id] = address
        used.add(address)
    assert all(ADDRESS_RE.match(address) for address in found.values())
    return found


# --- generate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSpec:
    """One generated spec: its address, its body as written, and the lines a reviewer reads."""

    address: str
    job: LiveJob
    body: dict[str, Any]
    comment: list[str]


@dataclass(frozen=True)
class LeftOut:
    """A selected job that gets no spec, and why."""

    job: LiveJob
    reason: str


@dataclass(frozen=True)
class Generated:
    """The specs to write (in address order), the selected jobs left out, and the jobs that
    already bear a generated spec's clone name: (address, job) to import as its clone."""

    specs: list[NewSpec]
    left_out: list[LeftOut]
    adoptable: list[tuple[str, LiveJob]]


def generate(
    *,
    selection: Selection,
    candidates: Sequence[LiveJob],
    live: Sequence[LiveJob],
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    assignments: Sequence[Assignment] = (),
    name_template: str | None = None,
    original: OriginalPolicy = OriginalPolicy.manual,
) -> Generated:
    """Specs for the `candidates` the selection picks, leaving out jobs already managed.

    `candidates` are the jobs the listing returned (filtered by the server's `q` when the
    selection has a query); `live` is every live job, for the name check. A job that state
    holds (as a clone or a source) or that a spec already clones is left out, with the reason.
    A job that already bears a generated spec's clone name (other than its source's own
    name) is taken for that clone, made by hand: listed in `adoptable`, and left out if it
    was selected. Raises UsageError listing every problem: an id that does not exist, a clone
    name another spec or generated spec has, or that is a source's own name and a job state
    does not know bears.
    """
    by_id = {job.id: job for job in live}
    chosen = [job for job in candidates if selection.picks(job)]
    problems = [
        f"job {job_id} does not exist on the server"
        for job_id in sorted(set(selection.ids))
        if job_id not in by_id
    ]
    owners = _owners(desired, prior)
    # a job that bears a spec's or a state entry's clone name is that clone (a state lost it):
    # offering a spec for it would clone a clone; `jobspec import --discover` adopts it
    clones = clone_names(desired=desired, prior=prior, live=by_id)
    for job in chosen:
        owner = clones.get(name_key(job.name))
        if job.id not in owners and owner is not None:
            owners[job.id] = (
                f"by its name the clone of {owner}: adopt it with `jobspec import --discover`"
            )
    left_out = [LeftOut(job, owners[job.id]) for job in chosen if job.id in owners]
    adopted = [job for job in chosen if job.id not in owners]
    addresses = _addresses(adopted, set(desired) | set(prior))
    bodies = _bodies(assignments)

    named: dict[str, list[LiveJob]] = {}
    for job in live:
        named.setdefault(job.name, []).append(job)
    selected = {job.id for job in adopted}
    planned: list[tuple[str, LiveJob, str | None, str]] = []
    for job in sorted(adopted, key=lambda job: addresses[job.id]):
        address = addresses[job.id]
        explicit = _clone_name(name_template, job, address)
        name = explicit if explicit is not None else f"{job.name} ({address})"
        if not name.strip():
            problems.append(f"{address}: --name gives job {job.id} a blank clone name")
            continue
        planned.append((address, job, explicit, name))

    # A job that already bears a clone's name is that clone, made by hand (or by a state that
    # was lost): it is adopted with `jobspec import`, not given a spec of its own. Only a name
    # that is the source's own (`--name '{name}'`) says nothing about which job is which.
    pairs: list[tuple[str, str, LiveJob]] = []  # (address, its source's id, namesake)
    for address, job, _, name in planned:
        for namesake in named.get(name, ()):
            if namesake.id == job.id or namesake.id in owners:
                continue
            if name != job.name:
                pairs.append((address, job.id, namesake))
            elif namesake.id not in selected:
                problems.append(
                    f"{address}: job {namesake.id} is already named {name!r} and state does "
                    "not know it; a clone with that name would be refused by plan"
                )
    by_hand = {namesake.id: address for address, _, namesake in pairs if namesake.id in selected}
    for job in adopted:
        if job.id in by_hand:
            left_out.append(
                LeftOut(job, f"already has the clone name of {by_hand[job.id]}: import it")
            )
    adoptable = [(a, namesake) for a, source, namesake in pairs if source not in by_hand]

    claims = _claimed_names(desired, prior, by_id)
    specs = []
    for address, job, explicit, name in planned:
        if job.id in by_hand:
            continue
        holder = claims.setdefault(name, address)
        if holder != address:
            problems.append(
                f"{address}: its clone would be named {name!r}, the clone name of {holder}; "
                "two specs cannot share a clone name"
            )
        overrides = dict(bodies.get("overrides", {}))
        if explicit is not None:
            overrides = {"name": explicit, **overrides}
        body: dict[str, Any] = {"source": job.id, "original": original.value}
        if overrides:
            body["overrides"] = overrides
        if "passthrough" in bodies:
            body["passthrough"] = bodies["passthrough"]
        specs.append(NewSpec(address=address, job=job, body=body, comment=describe(job)))
    if problems:
        count = len(problems)
        raise UsageError(
            f"cannot generate: {count} problem{'s' if count > 1 else ''}\n"
            + "\n".join(f"  {problem}" for problem in problems),
            hint="nothing was written; --name TEMPLATE with {id} or {address} keeps names unique",
        )
    return Generated(
        specs=specs,
        left_out=sorted(left_out, key=lambda left: (left.job.name, left.job.id)),
        adoptable=adoptable,
    )


def _owners(desired: Mapping[str, DesiredJob], prior: Mapping[str, StateEntry]) -> dict[str, str]:
    """Job id → why it already has an owner: a spec's source, or state's source or clone."""
    owners: dict[str, str] = {}
    for address, entry in sorted(prior.items()):
        owners.setdefault(entry.clone_id, f"managed: the clone of {address} in state")
        for old in (*entry.superseded, *entry.retired_clones):
            owners.setdefault(old, f"managed: a replaced clone of {address} in state")
        owners.setdefault(entry.source_id, f"already the source of {address} in state")
    for address, wanted in sorted(desired.items()):
        owners.setdefault(
            wanted.spec.source, f"already the source of {address} ({wanted.location})"
        )
    return owners


def _claimed_names(
    desired: Mapping[str, DesiredJob],
    prior: Mapping[str, StateEntry],
    live: Mapping[str, LiveJob],
) -> dict[str, str]:
    """Clone name → address, for the specs there are and the clones state holds."""
    claims: dict[str, str] = {}
    for address, wanted in sorted(desired.items()):
        name = wanted.spec.overrides.name
        source = live.get(wanted.spec.source)
        if name is None and source is not None:
            name = f"{source.name} ({address})"
        if name is not None:
            claims.setdefault(name, address)
    for address, entry in sorted(prior.items()):
        clone = live.get(entry.clone_id)
        if clone is not None:
            claims.setdefault(clone.name, address)
    return claims


# --- what a reviewer reads ----------------------------------------------------------------------


def describe(job: LiveJob) -> list[str]:
    """The comment above a generated spec: the job's name, status, endpoints and schedule."""
    raw = job.raw
    transfer = raw.get("transfer") if isinstance(raw.get("transfer"), dict) else {}
    assert isinstance(transfer, dict)
    facts = [f"status {job.status or 'unknown'}"]
    if job.kind != "transfer":
        facts.append(f"kind {job.kind}")
    if isinstance(transfer.get("transfer_type"), str):
        facts.append(transfer["transfer_type"])
    category = raw.get("category")
    if isinstance(category, dict) and category.get("name"):
        facts.append(f"category {category['name']}")
    if raw.get("disabled") is True:
        facts.append("disabled")
    lines = [f"{json.dumps(job.name, ensure_ascii=False)}: {', '.join(facts)}"]
    for side in ("source", "destination"):
        lines.append(f"  {side}: {_endpoint(transfer.get(side))}")
    lines.append(f"  schedule: {_schedule(raw.get('schedule'))}")
    return [line if len(line) <= 160 else line[:157] + "..." for line in lines]


def _endpoint(endpoint: Any) -> str:
    if not isinstance(endpoint, dict):
        return "unknown"
    connection = endpoint.get("connection")
    folder = target_folder(endpoint.get("target"))  # an item chain shows as its folder
    ident = connection.get("id") if isinstance(connection, dict) else None
    shown = json.dumps(folder, ensure_ascii=False) if isinstance(folder, str) else "(no path)"
    return f"{shown} on connection {ident}" if ident is not None else shown


def _schedule(schedule: Any) -> str:
    if not isinstance(schedule, dict):
        return "unknown"
    mode = schedule.get("mode", "unknown")
    rest = [f"{key} {_compact(value)}" for key, value in schedule.items() if key != "mode"]
    return f"{_compact(mode)} ({'; '.join(rest)})" if rest else _compact(mode)


def _compact(value: Any) -> str:
    """A value on one line, as a flow-style YAML reader would take it."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_compact(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(item) for item in value) + "]"
    if isinstance(value, str):
        return value
    return json.dumps(value)
