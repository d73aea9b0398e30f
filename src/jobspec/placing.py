"""Endpoints the overlap check cannot place: refused or warned of, never skipped in silence.

Pure, beside the planner. A scheduled clone that writes to a target naming no folder (a platform
item id, a uri: `jobspec.endpoints`) is refused unless its spec says `allow_unplaced: true`
(then it is a warning); a scheduled live job that writes unplaced on a connection a scheduled
clone writes to is named in a warning on that clone's address, since the check could not
compare the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jobspec.conflicts import Party, unplaced
from jobspec.endpoints import connection_id
from jobspec.model import DesiredJob, LiveJob
from jobspec.plan import PlanWarning
from jobspec.scrub import shorten

LISTED = 10
"""Unplaced live jobs named in one warning; the rest are counted."""


def unplaced_findings(
    parties: Iterable[Party], desired: Mapping[str, DesiredJob], live: Mapping[str, LiveJob]
) -> tuple[list[str], list[PlanWarning]]:
    """(refusals, warnings) for the unplaced sides of the scheduled parties."""
    parties = list(parties)
    refused: list[str] = []
    warnings: list[PlanWarning] = []
    strangers = [
        (party, side, conn, why)
        for party in parties
        if not party.desired
        for side, conn, why in unplaced(party.job)
    ]
    for party in parties:
        if not party.desired:
            continue
        wanted = desired[party.key]
        for side, conn, why in unplaced(party.job):
            text = (
                f"the clone's {side} on connection {conn} is {why.why}, not a folder: jobspec "
                "cannot tell where it writes, so it cannot check it for transfer conflicts"
            )
            if wanted.spec.allow_unplaced:
                warnings.append(_warning(wanted, f"{text} (accepted by allow_unplaced)"))
            else:
                refused.append(
                    f"{wanted.location}: {wanted.address}: {text}; set "
                    f"`overrides.transfer.{side}.target.path`, or `allow_unplaced: true` to "
                    "run it unchecked"
                )
        mine = _connections(party)
        near = [(p, side, c, why) for p, side, c, why in strangers if c.casefold() in mine]
        if near:
            named = [
                f"job {p.key} {shorten(live[p.key].name)!r} ({side} on connection {c}: {why.why})"
                if p.key in live
                else f"job {p.key} ({side} on connection {c}: {why.why})"
                for p, side, c, why in near[:LISTED]
            ]
            more = f" and {len(near) - LISTED} more" if len(near) > LISTED else ""
            warnings.append(
                _warning(
                    wanted,
                    "not checked for transfer conflicts with scheduled jobs writing to a target "
                    "that is not a folder: " + "; ".join(named) + more,
                )
            )
    return refused, warnings


def _connections(party: Party) -> set[str]:
    """Every connection the party's transfer names, folded as the conflict check folds them."""
    transfer = party.job.get("transfer")
    found: set[str] = set()
    if isinstance(transfer, dict):
        for side in ("source", "destination"):
            endpoint = transfer.get(side)
            conn = connection_id(endpoint) if isinstance(endpoint, dict) else None
            if conn is not None:
                found.add(conn.casefold())
    return found


def _warning(wanted: DesiredJob, message: str) -> PlanWarning:
    return PlanWarning(address=wanted.address, location=str(wanted.location), message=message)
