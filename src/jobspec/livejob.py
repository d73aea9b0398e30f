"""A job as the API returned it, and what a plan reads of it: its configuration, digests.

`LiveJob` keeps the reply whole in `raw`; `configuration` is the job without what the server
changes by itself as jobs run (`SERVER_MAINTAINED`) or merely decorates a reply with, so that
fingerprints and digests move only when the job's settings do. Re-exported by `model`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple


class MalformedJob(ValueError):
    """A listed job whose identity fields have the wrong types: named, then skipped."""


class LiveJob:
    """A job as the API returned it. `raw` keeps every field, known or not.

    A plain value with slots, not a pydantic model: a 50,000-job listing makes one per job,
    and a model instance weighed about 900 bytes and its construction a third of the cost.
    Read-only by convention and by `__setattr__`.
    """

    __slots__ = ("_derived", "id", "kind", "name", "raw", "status")

    _derived: _WorkedOut | None
    id: str
    name: str
    kind: str
    status: str | None
    raw: dict[str, Any]

    def __init__(
        self,
        *,
        id: str,
        name: str,
        raw: dict[str, Any],
        kind: str = "transfer",
        status: str | None = None,
    ) -> None:
        for field, value in (("id", id), ("name", name), ("kind", kind)):
            if type(value) is not str:
                raise MalformedJob(f"{field}: {_shape(value)}, not text")
        if status is not None and type(status) is not str:
            raise MalformedJob(f"status: {_shape(status)}, not text")
        fields: dict[str, Any] = {"id": id, "name": name, "kind": kind, "status": status}
        for field, value in (*fields.items(), ("raw", raw), ("_derived", None)):
            object.__setattr__(self, field, value)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> LiveJob:
        """The job in a reply; `MalformedJob` when its id, name, kind or status is no text."""
        for field in ("id", "name"):
            if field not in raw:
                raise MalformedJob(f"{field}: missing")
        return cls(
            id=raw["id"],
            name=raw["name"],
            kind=raw.get("kind", "transfer"),
            status=raw.get("status"),
            raw=raw,
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a LiveJob is read-only ({name})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LiveJob):
            return NotImplemented
        return (self.id, self.name, self.kind, self.status, self.raw) == (
            other.id,
            other.name,
            other.kind,
            other.status,
            other.raw,
        )

    __hash__ = None  # type: ignore[assignment]  # `raw` is a dict: like it, not hashable

    def __repr__(self) -> str:
        shown = f"id={self.id!r}, name={self.name!r}, kind={self.kind!r}, status={self.status!r}"
        return f"LiveJob({shown})"

    @property
    def is_running(self) -> bool:
        """A run is in progress: deleting the job now would cancel it."""
        return self.status in RUNNING_STATUSES

    @property
    def schedule_mode(self) -> str | None:
        """The mode as the server wrote it, which may be one jobspec does not know: a plain
        string, compared with `ScheduleMode` members and shown as written."""
        schedule = self.raw.get("schedule")
        return schedule.get("mode") if isinstance(schedule, dict) else None

    @property
    def is_deleted(self) -> bool:
        """The server lists deleted jobs with `status: deleted` on some builds: they are gone."""
        return self.status == DELETED_STATUS

    def transfer_digest(self) -> str:
        """A digest of the transfer settings alone: what a clone inherits, not the schedule."""
        return self._worked_out().transfer_digest

    def fingerprint(self) -> str:
        """A digest of the job's configuration: never of what the server changes as it runs."""
        return self._worked_out().fingerprint

    def endpoint_configuration(self, side: str) -> dict[str, Any] | None:
        """`transfer.<side>` of the job's configuration (a mapping), or None: what a clone
        inherits of an endpoint the spec names only in part."""
        return self._worked_out().endpoints.get(side)

    def _worked_out(self) -> _WorkedOut:
        """What a plan reads of the job's configuration, worked out once: the walk of the job
        was made three times per named job before, and keeping the whole configuration
        beside `raw` cost 2.5 KB a job."""
        known = self._derived
        if known is None:
            config = configuration(self.raw)
            transfer = config.get("transfer")
            endpoints = (
                {s: e for s, e in transfer.items() if s in ENDPOINT_SIDES and isinstance(e, dict)}
                if isinstance(transfer, dict)
                else {}
            )
            known = _WorkedOut(digest(config), digest(transfer), endpoints)
            object.__setattr__(self, "_derived", known)
        return known


class _WorkedOut(NamedTuple):
    fingerprint: str
    transfer_digest: str
    endpoints: dict[str, dict[str, Any]]


ENDPOINT_SIDES = ("source", "destination")


SERVER_MAINTAINED: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("execution",),
    ("previous_execution",),
    ("links",),
    ("execute_on",),
    ("health",),
    ("discriminator",),
    ("size_estimate",),
    ("modified_on",),
    ("modified_by",),
    ("stop_policy", "completions"),
    ("stop_policy", "failures"),
    ("stop_policy", "executions"),
    ("transfer", "*", "event_position"),
)
"""Fields the server changes by itself as jobs run (or as it edits its own bookkeeping): not
configuration, so not in fingerprints or digests. `*` matches any key at that level."""
DELETED_STATUS = "deleted"
RUNNING_STATUSES = frozenset({"start", "resume", "running", "cancelling"})
"""Job statuses of a run still moving data: the vendor client's `start`, `resume`, `running`,
and `cancelling` (a cancel asked for and not finished yet)."""


def _shape(value: Any) -> str:
    return "missing" if value is None else type(value).__name__


def configuration(raw: dict[str, Any]) -> dict[str, Any]:
    """The job without its server-maintained fields (`SERVER_MAINTAINED`) and without what a
    reply merely decorates it with (`_undecorated`); a new dict, only the mappings on the way
    to a removed field are copied."""
    return _undecorated(_without(raw, _SERVER_MAINTAINED_TREE))


MARKERS = ("type", "created_by")
"""Top-level fields that say what a reply is, or who made the job, not how it transfers."""
NOISE_ANYWHERE = "size_estimate"
"""Re-estimated by the server at any depth (each endpoint has one): never configuration."""


def _undecorated(job: dict[str, Any]) -> dict[str, Any]:
    """The job as its configuration: no `type` markers or `created_by`; in each endpoint the
    connection as its id alone (a reply expands it with a name, platform, flags and its own
    `modified_on`) and no `options: null`; and no `size_estimate` at any depth."""
    kept = {key: value for key, value in job.items() if key not in MARKERS}
    transfer = kept.get("transfer")
    if isinstance(transfer, dict):
        transfer = {key: value for key, value in transfer.items() if key != "type"}
        for side in ("source", "destination"):
            endpoint = transfer.get(side)
            if isinstance(endpoint, dict):
                transfer[side] = _endpoint_configuration(endpoint)
        kept["transfer"] = transfer
    quiet: dict[str, Any] = _without_noise(kept)
    return quiet


def _endpoint_configuration(endpoint: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in endpoint.items() if not (k == "options" and v is None)}
    connection = shown.get("connection")
    if isinstance(connection, dict) and "id" in connection:
        shown["connection"] = {"id": connection["id"]}
    return shown


def _without_noise(node: Any) -> Any:
    """`node` without `size_estimate` keys at any depth; the same object when it has none."""
    if isinstance(node, dict):
        changed = NOISE_ANYWHERE in node
        kept = {}
        for key, value in node.items():
            if key == NOISE_ANYWHERE:
                continue
            inner = _without_noise(value)
            changed = changed or inner is not value
            kept[key] = inner
        return kept if changed else node
    if isinstance(node, list):
        items = [_without_noise(item) for item in node]
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    return node


_Drop = dict[str, "_Drop | None"]
"""Paths as a tree: a key mapped to None is dropped, to a tree is walked into."""


def _drop_tree(paths: tuple[tuple[str, ...], ...]) -> _Drop:
    tree: _Drop = {}
    for path in paths:
        node = tree
        for key in path[:-1]:
            inner = node.setdefault(key, {})
            assert inner is not None, f"{path} is inside a path dropped whole"
            node = inner
        node[path[-1]] = None
    return tree


_SERVER_MAINTAINED_TREE = _drop_tree(SERVER_MAINTAINED)


def _merged(one: _Drop, other: _Drop) -> _Drop:
    """Both trees' paths; a key either drops whole is dropped whole."""
    out = dict(one)
    for key, rule in other.items():
        if key not in out:
            out[key] = rule
        else:
            mine = out[key]
            out[key] = None if mine is None or rule is None else _merged(mine, rule)
    return out


def _without(node: dict[str, Any], tree: _Drop) -> dict[str, Any]:
    """`node` without the paths in `tree`; only the mappings on the way to one are copied."""
    star = tree.get("*", {})
    if "*" not in tree and tree.keys().isdisjoint(node.keys()):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        rule = tree.get(key, star)
        if rule is None or (key in tree and star is None):
            continue  # dropped by name, or by `*`
        if rule and isinstance(value, dict):
            if key in tree and star:  # both a named and a `*` rule: walk both
                rule = _merged(rule, star)
            kept[key] = _without(value, rule)
        else:
            kept[key] = value
    return kept


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:16]
