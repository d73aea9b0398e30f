"""Transfer conflicts: two scheduled jobs that would write into the same folder.

Pure: values in, values out, no clock and no I/O. The planner hands in what the world will look
like once its plan is applied (each desired clone as it will be, and every live job the plan
leaves in place), and gets back every overlap that involves a desired clone.

When two jobs overlap. Both run on a schedule (`schedule.mode: auto`, not `disabled`), and a
place one of them *writes* overlaps a place the other writes: the same connection id, and one
path equal to the other or inside it. A job writes its destination; under `transfer_type: move`
or `sync` it changes its source too (move removes what it moved, sync writes both ways), so
those sources count as written. Reading the same source as another job is no conflict.

How paths compare (`normalise_path`). The API gives no platform per connection, so one rule
that matches what Box, SharePoint/OneDrive and Windows file shares treat as the same folder is
used for every path, erring towards "the same":
- `\\` and `/` are both separators; repeated separators, `.` segments and a trailing separator
  do not matter; a missing leading separator does not either (`Finance` is `/Finance`);
- names compare case-insensitively (Unicode case folding, after NFC normalisation, so a
  decomposed `é` equals a composed one);
- spaces around a name are ignored (those platforms trim or refuse them).
`..` is kept as a name, not resolved. A target is a path or an item chain naming a folder
(`jobspec.endpoints`); a side whose target names no folder (a platform item id, a uri) is
*unplaced*: `unplaced` lists those sides, and the planner warns of them or refuses them. A side
without a connection id is not checked: there is nothing to compare.

Speed. Paths are grouped by connection and sorted as `/a/b/` keys, so every folder's
descendants follow it contiguously; one pass with a stack of open ancestors finds every nested
pair in O(n log n + depth × n + pairs found), and only pairs with a desired clone in them are
produced, so thousands of live jobs under the same root cost nothing extra.
"""

from __future__ import annotations

import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

from jobspec.endpoints import Unplaced, connection_id, target_folder
from jobspec.model import ScheduleMode, TransferType

Side = Literal["destination", "source"]

WRITES_SOURCE = frozenset({TransferType.move, TransferType.sync})
"""Transfer types that change their source as well as their destination."""


def normalise_path(path: str) -> str:
    """A folder path as a comparison key: `/segment/segment/`, or `/` for the root.

    One key is a prefix of another exactly when the first folder is the second or contains it.
    """
    text = path if path.isascii() else unicodedata.normalize("NFC", path)
    body = text.replace("\\", "/").casefold().strip("/")
    key = f"/{body}/" if body else "/"
    if "//" in key or "/./" in key or "/ " in key or " /" in key:  # the rare, slow way
        segments = (segment.strip() for segment in key.split("/"))
        key = "/" + "".join(f"{segment}/" for segment in segments if segment not in ("", "."))
    return key


class _Precomputed:
    """The key under which `conflict_view` keeps a job's written places: not a string, so no
    reply from the server can hold it."""

    def __repr__(self) -> str:
        return "<written places>"


WRITTEN = _Precomputed()

_Written = tuple[tuple[Side, str, "str | Unplaced"], ...]


def is_scheduled(job: Mapping[str, Any]) -> bool:
    """Will this job run by itself? `schedule.mode: auto` and not `disabled`."""
    if WRITTEN in cast("Mapping[Any, Any]", job):  # a `conflict_view`: only of a job on auto
        return True
    schedule = job.get("schedule")
    mode = schedule.get("mode") if isinstance(schedule, dict) else None
    return mode == ScheduleMode.auto and job.get("disabled") is not True


def conflict_view(job: Mapping[str, Any]) -> dict[Any, Any]:
    """What the conflict check reads of a live job, in as little memory as it can be kept:
    nothing when the job does not run by itself; else, under the `WRITTEN` key, the side,
    connection id and folder (or `Unplaced`) of each side it writes. `is_scheduled`,
    `placement`, `unplaced` and `find_conflicts` read the same from it as from the whole job;
    a 50,000-job listing keeps this for most of its jobs (about 0.7 KB each, not 2.4 KB)."""
    if not is_scheduled(job):
        return {}
    places = tuple((side, sys.intern(conn), where) for side, conn, where in _written(job))
    return {WRITTEN: places}


def may_be_scheduled(body: Mapping[str, Any]) -> bool:
    """Could a clone with this managed body run by itself? False only when the body says not.

    The caller needs every live job exactly when one desired clone may be scheduled.
    """
    if body.get("disabled") is True:
        return False
    schedule = body.get("schedule")
    mode = schedule.get("mode") if isinstance(schedule, dict) else None
    return mode is None or mode == ScheduleMode.auto


class Party(NamedTuple):
    """One job as it will be after the plan.

    `key` is unique among the parties and names it in messages (the caller chooses: an address
    for a desired clone, a job id for a live job); `names` are what `allow_overlap_with` may
    call it; `allows` what it accepts overlapping with. `desired` marks a clone a spec asks
    for. Tuples, not sets: thousands are made, and only the few in a conflict are compared.
    """

    key: str
    job: Mapping[str, Any]
    names: tuple[str, ...] = ()
    allows: tuple[str, ...] = ()
    desired: bool = False


class Place(NamedTuple):
    """Where a party writes: one side of its transfer."""

    side: Side
    connection: str
    path: str  # as written, for messages
    key: str  # normalise_path(path)

    def describe(self) -> str:
        return f"{self.side} {self.path!r} on connection {self.connection}"


@dataclass(frozen=True)
class Conflict:
    """Two scheduled parties writing into overlapping places. `first` is always desired."""

    first: Party
    first_place: Place
    second: Party
    second_place: Place
    accepted: bool

    @property
    def relation(self) -> str:
        """How the first place stands to the second, as words between them."""
        if self.first_place.key == self.second_place.key:
            return "is the same folder as"
        if self.second_place.key.startswith(self.first_place.key):
            return "contains"
        return "is inside"


def _written(job: Mapping[str, Any]) -> list[tuple[Side, str, str | Unplaced]]:
    """(side, connection id, folder or Unplaced) of each side the job writes; cheap, no keys."""
    known: _Written | None = cast("Mapping[Any, Any]", job).get(WRITTEN)
    if known is not None:
        return list(known)
    transfer = job.get("transfer")
    if not isinstance(transfer, dict):
        return []
    sides: tuple[Side, ...] = ("destination",)
    if transfer.get("transfer_type") in WRITES_SOURCE:
        sides = ("destination", "source")
    found: list[tuple[Side, str, str | Unplaced]] = []
    for side in sides:
        endpoint = transfer.get(side)
        if not isinstance(endpoint, dict):
            continue
        conn_id = connection_id(endpoint)
        if conn_id is not None:
            found.append((side, conn_id, target_folder(endpoint.get("target"))))
    return found


def _endpoints(job: Mapping[str, Any]) -> list[tuple[Side, str, str]]:
    """(side, connection id, folder as written) of each side the job writes and that is placed."""
    return [(side, conn, where) for side, conn, where in _written(job) if isinstance(where, str)]


def unplaced(job: Mapping[str, Any]) -> list[tuple[Side, str, Unplaced]]:
    """(side, connection id, why) of each side the job writes whose folder is unknown."""
    return [
        (side, conn, where) for side, conn, where in _written(job) if isinstance(where, Unplaced)
    ]


def placement(job: Mapping[str, Any]) -> list[list[str]] | None:
    """What the conflict check reads of a job: where it writes if it runs by itself, else None.

    A saved plan keeps a digest of every scheduled live job's placement, so a job moved onto a
    clone's folder, or put on a schedule there, after the plan was made is caught before the
    plan is applied, while what the check never reads (a description, a run, a manual job)
    does not make the plan stale.
    """
    if not is_scheduled(job):
        return None
    return [[side, conn, normalise_path(path)] for side, conn, path in _endpoints(job)]


def find_conflicts(parties: Iterable[Party]) -> list[Conflict]:
    """Every pair of scheduled parties, one of them desired, whose written places overlap.

    One conflict per pair of parties (destinations reported before sources), in a stable order.
    Parties that are not scheduled are skipped here, so callers may pass everything; the paths
    of jobs on connections no desired clone writes to are never even normalised.
    """
    scheduled = [party for party in parties if is_scheduled(party.job)]
    # connection → path key → (desired places, other places); a place is a plain tuple
    # (party, side, connection, path, key), because thousands are made and few conflict
    index: dict[str, dict[str, tuple[list[_At], list[_At]]]] = defaultdict(dict)
    for wanted in (True, False):
        for party in scheduled:
            if party.desired is not wanted:
                continue
            for side, connection, path in _endpoints(party.job):
                folded = connection.casefold()
                if not wanted and folded not in index:
                    continue
                key = normalise_path(path)
                mine, others = index[folded].setdefault(key, ([], []))
                (mine if wanted else others).append((party, side, connection, path, key))

    found: dict[tuple[str, str], Conflict] = {}
    for groups in index.values():
        for a, b in _nested_pairs(groups):
            if a[0] is b[0]:
                continue  # a move or sync job whose source and destination overlap
            conflict = _conflict(a, b)
            pair = (conflict.first.key, conflict.second.key)
            known = found.get(pair)
            if known is None or _rank(conflict) < _rank(known):
                found[pair] = conflict
    return sorted(found.values(), key=_order)


_At = tuple[Party, Side, str, str, str]


def _nested_pairs(
    groups: Mapping[str, tuple[list[_At], list[_At]]],
) -> Iterator[tuple[_At, _At]]:
    """Pairs of places on one connection where one key is a prefix of the other (or equal).

    Only pairs with a desired place in them; each unordered pair once.
    """
    stack: list[str] = []  # keys that are ancestors of the current one, outermost first
    for key in sorted(groups):
        while stack and not key.startswith(stack[-1]):
            stack.pop()
        mine, others = groups[key]
        for n, at in enumerate(mine):
            for other in mine[n + 1 :]:
                yield at, other
            for other in others:
                yield at, other
        for ancestor in stack:
            outer_mine, outer_others = groups[ancestor]
            for at in mine:
                for other in outer_mine:
                    yield at, other
                for other in outer_others:
                    yield at, other
            for at in outer_mine:
                for other in others:
                    yield at, other
        stack.append(key)


def _conflict(a: _At, b: _At) -> Conflict:
    """Oriented: a desired party first; of two desired ones, the smaller key first."""
    if not a[0].desired or (b[0].desired and b[0].key < a[0].key):
        a, b = b, a
    one, two = a[0], b[0]
    accepted = any(name in one.allows for name in two.names) or any(
        name in two.allows for name in one.names
    )
    return Conflict(one, Place(*a[1:]), two, Place(*b[1:]), accepted)


def _rank(conflict: Conflict) -> tuple[int, str, str]:
    sides = (conflict.first_place.side != "destination") + (
        conflict.second_place.side != "destination"
    )
    return (sides, conflict.first_place.key, conflict.second_place.key)


def _order(conflict: Conflict) -> tuple[bool, str, bool, str]:
    first, second = conflict.first, conflict.second
    return (not first.desired, first.key, not second.desired, second.key)
