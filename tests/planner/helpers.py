"""The planner's test fixtures, shared by the planner, conflict and render tests: one source,
its clone as an apply of OVERRIDES leaves it, a spec and a state entry for them."""

from __future__ import annotations

from typing import Any

from jobspec.model import (
    DesiredJob,
    JobSpec,
    LiveJob,
    SourceLocation,
    StateEntry,
    deep_merge,
    digest,
)
from jobspec.plan import Plan, PlanOptions
from jobspec.planner import make_plan

SOURCE = "a" * 32
CLONE = "b" * 32
OTHER = "c" * 32


def live_job(job_id: str, **changes: Any) -> LiveJob:
    raw: dict[str, Any] = {
        "id": job_id,
        "kind": "transfer",
        "name": "Finance to SharePoint",
        "status": "idle",
        "schedule": {"mode": "auto"},
        "transfer": {
            "transfer_type": "sync",
            "source": {"connection": {"id": "box"}, "target": {"path": "/Finance"}},
            "destination": {"connection": {"id": "sp"}, "target": {"path": "/Sites/Finance"}},
            "delete_propagation": ["ignore_destination"],
            "lock_propagation": "ignore",
            "permissions": {"policy": "none", "links": True, "failures": "none"},
        },
        "modified_on": 1,
    }
    return LiveJob.from_raw(deep_merge(raw, changes))


def desired(address: str = "finance", **spec: Any) -> dict[str, DesiredJob]:
    body = {"source": SOURCE, **spec}
    return {
        address: DesiredJob(
            address=address,
            spec=JobSpec.model_validate(body),
            location=SourceLocation(file="specs/finance.yaml", line=3),
        )
    }


OVERRIDES = {
    "name": "Finance archive",
    "schedule": {"mode": "manual"},
    "transfer": {"transfer_type": "copy", "lock_propagation": "mirror_lock"},
}


def applied_clone(**changes: Any) -> LiveJob:
    """A clone as a successful apply of OVERRIDES leaves it."""
    return live_job(CLONE, **deep_merge(OVERRIDES, changes))


def entry(applied: dict[str, Any] | None = None, **fields: Any) -> dict[str, StateEntry]:
    body = OVERRIDES if applied is None else applied
    values = {
        "source_id": SOURCE,
        "clone_id": CLONE,
        "original": "manual",
        "applied": body,
        "applied_digest": digest(body),
        "original_retired": "manual",
        **fields,
    }
    return {"finance": StateEntry.model_validate(values)}


def plan_of(
    want: dict[str, DesiredJob],
    prior: dict[str, StateEntry],
    jobs: list[LiveJob],
    **kwargs: Any,
) -> Plan:
    return make_plan(
        desired=want,
        prior=prior,
        live={job.id: job for job in jobs},
        lineage="L",
        serial=7,
        interrupted=kwargs.pop("interrupted", None),
        connections=kwargs.pop("connections", None),
        options=PlanOptions(**{k: v if k == "prune" else tuple(v) for k, v in kwargs.items()}),
    )


RETIRED_SOURCE = live_job(SOURCE, schedule={"mode": "manual"})


def deleting_plan() -> Plan:
    """A new clone whose original is deleted, and a pruned clone: two deletes, one set manual."""
    other = "d" * 32
    want = desired("retire-it", overrides=OVERRIDES, original="delete")
    prior = {
        "gone-spec": entry(original="delete")["finance"].model_copy(update={"clone_id": other})
    }
    return plan_of(
        want, prior, [live_job(SOURCE), live_job(other, name="Old finance clone")], prune=True
    )
