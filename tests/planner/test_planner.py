"""Every row of DESIGN.md's plan table, as small tables of desired / prior / live."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from jobspec.errors import PlanError
from jobspec.model import (
    LiveJob,
    OriginalPolicy,
    RetireHow,
    ScheduleMode,
    deep_merge,
)
from jobspec.plan import ActionKind, Plan, StepOp
from jobspec.planner import needed_job_ids, needs_every_job
from tests.helpers import is_plain_json
from tests.planner.helpers import (
    CLONE,
    OTHER,
    OVERRIDES,
    RETIRED_SOURCE,
    SOURCE,
    applied_clone,
    desired,
    entry,
    live_job,
    plan_of,
)


def test_no_clone_yet_clones_then_retires_the_original() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), {}, [live_job(SOURCE)])
    (action,) = plan.actions
    assert action.kind is ActionKind.create
    assert [step.op for step in action.steps] == [StepOp.clone, StepOp.verify, StepOp.retire]
    clone, _, retire = action.steps
    assert clone.job_id == SOURCE and clone.body == OVERRIDES
    assert retire.job_id == SOURCE and retire.how is RetireHow.manual
    assert retire.body == {
        "kind": "transfer",
        "transfer_type": "sync",
        "schedule": {"mode": "manual"},
    }
    assert {c.path for c in action.changes} == {
        "name",
        "schedule.mode",
        "transfer.transfer_type",
        "transfer.lock_propagation",
    }
    assert action.reasons == ["new spec: no clone yet"]
    assert plan.has_changes


def test_create_without_a_name_still_sends_one() -> None:
    plan = plan_of(desired(overrides={"schedule": {"mode": "manual"}}), {}, [live_job(SOURCE)])
    assert plan.actions[0].steps[0].body == {
        "name": "Finance to SharePoint (finance)",
        "schedule": {"mode": "manual"},
    }


@pytest.mark.parametrize("kind", ["create", "replace"])
def test_a_partial_endpoint_is_sent_whole(kind: str) -> None:
    """Only the destination path in the spec: the clone body carries the source job's
    destination connection too (a server may replace the endpoint object, not merge into it),
    without the server-maintained `event_position`."""
    path_only = deep_merge(OVERRIDES, {"transfer": {"destination": {"target": {"path": "/New"}}}})
    source = live_job(
        SOURCE,
        transfer={"destination": {"event_position": "e-17", "target": {"id": "old-folder"}}},
    )
    prior = entry() if kind == "replace" else {}
    # a live job with the clone's name that state does not know would be refused (issue 14)
    live = [source, applied_clone()] if kind == "replace" else [source]
    plan = plan_of(desired(overrides=path_only), prior, live)
    (action,) = plan.actions
    assert action.kind is ActionKind(kind)
    clone_step = action.steps[0]
    assert clone_step.op is StepOp.clone and clone_step.body is not None
    assert clone_step.body["transfer"]["destination"] == {
        "connection": {"id": "sp"},
        "target": {"path": "/New"},  # the named part replaces the base's whole: no old id
    }
    assert "source" not in clone_step.body["transfer"]  # not named: inherited by the clone
    assert action.applied == path_only  # what jobspec manages is still what the spec says


def test_a_set_like_list_read_back_in_another_order_is_no_change() -> None:
    both = deep_merge(
        OVERRIDES, {"transfer": {"delete_propagation": ["ignore_source", "ignore_destination"]}}
    )
    reordered = applied_clone(
        transfer={"delete_propagation": ["ignore_destination", "ignore_source"]}
    )
    plan = plan_of(desired(overrides=both), entry(applied=both), [RETIRED_SOURCE, reordered])
    assert plan.actions[0].kind is ActionKind.noop


def test_a_list_change_says_which_items_moved() -> None:
    edited = deep_merge(OVERRIDES, {"transfer": {"delete_propagation": ["mirror"]}})
    plan = plan_of(desired(overrides=edited), entry(), [RETIRED_SOURCE, applied_clone()])
    (change,) = plan.actions[0].changes
    assert change.path == "transfer.delete_propagation"
    assert change.detail == "added mirror; removed ignore_destination"
    from jobspec.render import render_text

    assert (
        'transfer.delete_propagation: ["ignore_destination"] → ["mirror"] '
        "(added mirror; removed ignore_destination)" in render_text(plan)
    )


def test_everything_in_place_is_a_noop() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [RETIRED_SOURCE, applied_clone()])
    (action,) = plan.actions
    assert action.kind is ActionKind.noop
    assert action.steps == []
    assert not plan.has_changes


@pytest.mark.parametrize(
    ("live_value", "cause", "reason"),
    [
        ("ignore", "spec", "spec changed: transfer.lock_propagation"),
        ("mirror_owner", "spec", "spec changed: transfer.lock_propagation"),
    ],
)
def test_spec_edit_patches_only_that_field(live_value: str, cause: str, reason: str) -> None:
    edited = deep_merge(OVERRIDES, {"transfer": {"lock_propagation": "ignore"}})
    clone = applied_clone(transfer={"lock_propagation": "mirror_lock"})
    plan = plan_of(desired(overrides=edited), entry(), [RETIRED_SOURCE, clone])
    (action,) = plan.actions
    assert action.kind is ActionKind.update
    assert [s.op for s in action.steps] == [StepOp.patch]
    assert action.steps[0].job_id == CLONE
    # every PATCH names the job's kind, as the vendor's examples do
    assert action.steps[0].body == {"kind": "transfer", "transfer": {"lock_propagation": "ignore"}}
    assert action.changes[0].cause == cause
    assert action.reasons == [reason]
    assert not action.drift


def test_clone_edited_on_the_server_is_drift() -> None:
    clone = applied_clone(name="Renamed in the UI")
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [RETIRED_SOURCE, clone])
    (action,) = plan.actions
    assert action.kind is ActionKind.update
    assert action.drift
    assert action.steps[0].body == {"kind": "transfer", "name": "Finance archive"}
    (change,) = action.changes
    assert (change.path, change.before, change.after, change.cause) == (
        "name",
        "Renamed in the UI",
        "Finance archive",
        "server",
    )
    assert action.reasons == ["drift: edited outside jobspec: name"]


def test_unmanaged_field_edited_on_the_server_is_ignored() -> None:
    clone = applied_clone(description="someone wrote here", priority=5)
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [RETIRED_SOURCE, clone])
    assert plan.actions[0].kind is ActionKind.noop


def test_immutable_change_replaces_create_before_destroy() -> None:
    moved = deep_merge(OVERRIDES, {"transfer": {"destination": {"target": {"path": "/Archive"}}}})
    plan = plan_of(desired(overrides=moved), entry(), [RETIRED_SOURCE, applied_clone()])
    (action,) = plan.actions
    assert action.kind is ActionKind.replace
    assert [(s.op, s.role) for s in action.steps] == [
        (StepOp.clone, "source"),
        (StepOp.verify, "clone"),
        (StepOp.retire, "old_clone"),
    ]
    assert action.steps[0].job_id == SOURCE
    assert action.steps[2].job_id == CLONE and action.steps[2].how is RetireHow.manual
    assert action.changes[0].immutable
    assert action.changes[0].path == "transfer.destination.target.path"


def test_replace_under_delete_policy_deletes_the_old_clone() -> None:
    moved = deep_merge(OVERRIDES, {"transfer": {"destination": {"target": {"path": "/Archive"}}}})
    prior = entry(original="delete", original_retired="deleted")
    plan = plan_of(desired(overrides=moved, original="delete"), prior, [applied_clone()])
    (action,) = plan.actions
    assert action.kind is ActionKind.replace
    # the source was deleted by the first apply, so the current clone is cloned instead
    assert action.steps[0].job_id == CLONE and action.steps[0].role == "clone"
    assert action.steps[2].how is RetireHow.deleted


def test_a_replaced_clone_left_scheduled_is_retired() -> None:
    prior = entry(superseded=[OTHER])
    jobs = [RETIRED_SOURCE, applied_clone(), live_job(OTHER)]
    (action,) = plan_of(desired(overrides=OVERRIDES), prior, jobs).actions
    assert action.kind is ActionKind.retire
    assert [(s.job_id, s.role, s.how) for s in action.steps] == [
        (OTHER, "old_clone", RetireHow.manual)
    ]
    # set to manual by a call whose reply was lost: what the plan sees is recorded, no call
    done = [RETIRED_SOURCE, applied_clone(), live_job(OTHER, schedule={"mode": "manual"})]
    (seen,) = plan_of(desired(overrides=OVERRIDES), prior, done).actions
    assert [(s.op, s.job_id, s.how) for s in seen.steps] == [
        (StepOp.record, OTHER, RetireHow.manual)
    ]
    settled = entry(superseded=[])
    assert plan_of(desired(overrides=OVERRIDES), settled, done).actions[0].kind is ActionKind.noop


@pytest.mark.parametrize(
    ("policy", "source", "seen"),
    [
        ("delete", None, RetireHow.deleted),
        ("manual", None, RetireHow.deleted),
        ("manual", RETIRED_SOURCE, RetireHow.manual),
    ],
)
def test_a_retire_the_server_shows_done_is_recorded_not_retried(
    policy: str, source: LiveJob | None, seen: RetireHow
) -> None:
    prior = entry(original=policy, original_retired=None)
    jobs = [applied_clone(), *([source] if source else [])]
    (action,) = plan_of(desired(overrides=OVERRIDES, original=policy), prior, jobs).actions
    assert action.kind is ActionKind.retire
    assert [(s.op, s.job_id, s.role, s.how) for s in action.steps] == [
        (StepOp.record, SOURCE, "original", seen)
    ]


def test_clone_deleted_outside_jobspec_is_recreated_as_drift() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [RETIRED_SOURCE])
    (action,) = plan.actions
    assert action.kind is ActionKind.create
    assert action.drift
    assert action.reasons == [f"drift: clone {CLONE} was deleted outside jobspec"]
    # the original is already on manual: nothing to retire
    assert [s.op for s in action.steps] == [StepOp.clone, StepOp.verify]


def test_original_back_on_a_schedule_is_retired_again() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [live_job(SOURCE), applied_clone()])
    (action,) = plan.actions
    assert action.kind is ActionKind.retire
    assert action.drift
    assert action.reasons == [f"drift: original {SOURCE} is back on schedule 'auto'"]
    assert action.steps[0].job_id == SOURCE


def test_missing_source_is_a_plan_error_naming_spec_and_id() -> None:
    with pytest.raises(PlanError) as caught:
        plan_of(desired(overrides=OVERRIDES), {}, [])
    assert "specs/finance.yaml:3:1: finance:" in caught.value.message
    assert f"source job {SOURCE} does not exist" in caught.value.message


def test_removed_spec_is_shown_and_left_alone() -> None:
    plan = plan_of({}, entry(), [RETIRED_SOURCE, applied_clone()])
    (action,) = plan.actions
    assert action.kind is ActionKind.orphan
    assert action.steps == []
    assert not plan.has_changes
    assert "--prune" in action.reasons[0]


def test_removed_spec_with_prune_retires_and_forgets() -> None:
    plan = plan_of({}, entry(), [RETIRED_SOURCE, applied_clone()], prune=True)
    (action,) = plan.actions
    assert action.kind is ActionKind.prune
    assert [(s.op, s.job_id) for s in action.steps] == [
        (StepOp.retire, CLONE),
        (StepOp.forget, None),
    ]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("manual", [RetireHow.manual]), ("delete", [RetireHow.deleted]), ("keep", [])],
)
def test_original_policy_decides_the_retirement(policy: str, expected: list[RetireHow]) -> None:
    plan = plan_of(desired(overrides=OVERRIDES, original=policy), {}, [live_job(SOURCE)])
    hows = [s.how for s in plan.actions[0].steps if s.op is StepOp.retire]
    assert hows == expected


def test_keep_with_an_automatic_clone_into_the_same_folder_is_refused() -> None:
    # more cases, and the accepted form, in tests/planner/test_conflicts.py
    auto = deep_merge(OVERRIDES, {"schedule": {"mode": "auto"}})
    with pytest.raises(PlanError, match="transfer conflict"):
        plan_of(desired(overrides=auto, original="keep"), {}, [live_job(SOURCE)])
    quiet = plan_of(desired(overrides=OVERRIDES, original="keep"), {}, [live_job(SOURCE)])
    assert quiet.warnings == []


def test_values_are_normalised_before_comparing() -> None:
    overrides = {"transfer": {"delete_propagation": "mirror", "permissions": "add"}}
    clone = live_job(
        CLONE,
        transfer={
            "delete_propagation": ["mirror"],
            "permissions": {"policy": "add", "links": True, "failures": "none"},
        },
    )
    plan = plan_of(desired(overrides=overrides), entry(overrides), [RETIRED_SOURCE, clone])
    assert plan.actions[0].kind is ActionKind.noop


def test_fingerprints_cover_every_job_read_including_absent_ones() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [RETIRED_SOURCE])
    assert plan.fingerprints == {SOURCE: RETIRED_SOURCE.fingerprint(), CLONE: None}
    assert needed_job_ids(desired(), entry()) == {SOURCE, CLONE}


def test_fingerprint_ignores_run_time_noise_but_not_edits() -> None:
    running = live_job(SOURCE, status="running", previous_execution={"id": 3})
    assert running.fingerprint() == live_job(SOURCE).fingerprint()
    assert live_job(SOURCE, name="x").fingerprint() != live_job(SOURCE).fingerprint()


def test_targets_limit_the_plan() -> None:
    both = {**desired("finance", overrides=OVERRIDES), **desired("hr", overrides=OVERRIDES)}
    plan = plan_of(both, {}, [live_job(SOURCE)], targets={"hr"})
    assert [a.address for a in plan.actions] == ["hr"]


def test_plan_round_trips_through_json() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), {}, [live_job(SOURCE)])
    assert Plan.from_json(plan.to_json()) == plan


# --- property: a spec whose managed fields already match the live clone plans nothing -------

ENUMS = {
    "transfer_type": ["sync", "copy", "move", "migrate", "publish", "taxonomy"],
    "conflict_resolution": ["copy", "latest", "source", "destination", "failure"],
    "lock_propagation": ["ignore", "mirror_lock", "mirror_owner"],
    "duplicate_names": ["rename", "warn"],
    "item_overwrite": ["overwrite", "skip", "fail"],
    "failure_policy": ["continue", "halt"],
    "audit_level": ["none", "trace", "debug", "info", "warn", "error"],
    "empty_containers": ["create", "skip"],
}
PROPAGATION = ["ignore_both", "ignore_source", "ignore_destination", "mirror"]
transfer_overrides = st.fixed_dictionaries(
    {},
    optional={
        **{key: st.sampled_from(values) for key, values in ENUMS.items()},
        "delete_propagation": st.sampled_from(PROPAGATION)
        | st.lists(st.sampled_from(PROPAGATION), min_size=1, max_size=2),
        "permissions": st.sampled_from(["none", "add", "diff"])
        | st.fixed_dictionaries(
            {},
            optional={
                "policy": st.sampled_from(["none", "add", "diff"]),
                "links": st.booleans(),
                "failures": st.sampled_from(["none", "exceptions", "deny", "all"]),
            },
        ),
        "versioning": st.fixed_dictionaries(
            {},
            optional={
                "preserve": st.sampled_from(["none", "native"]),
                "select": st.sampled_from(["all", "latest"]),
            },
        ),
    },
)
overrides_strategy = st.fixed_dictionaries(
    {},
    optional={
        # DryvIQ refuses a blank name, and so does the spec model (`\S`)
        "name": st.text(min_size=1, max_size=20).filter(lambda name: not name.isspace()),
        "description": st.text(max_size=20),
        "priority": st.integers(-5, 5),
        "schedule": st.fixed_dictionaries(
            {}, optional={"mode": st.sampled_from(["manual", "auto", "ad-hoc"])}
        ),
        "transfer": transfer_overrides,
    },
)


def server_shape(body: dict[str, Any]) -> dict[str, Any]:
    """What a server stores for a request body: shorthands expanded into their full shape."""
    transfer = dict(body.get("transfer", {}))
    if isinstance(transfer.get("delete_propagation"), str):
        transfer["delete_propagation"] = [transfer["delete_propagation"]]
    if isinstance(transfer.get("permissions"), str):
        transfer["permissions"] = {"policy": transfer["permissions"], "links": False}
    return {**body, "transfer": transfer} if "transfer" in body else body


@settings(max_examples=200, deadline=None)
@given(
    overrides=overrides_strategy,
    passthrough=st.dictionaries(st.sampled_from(["x_a", "x_b"]), st.integers()),
)
def test_matching_clone_plans_no_changes(
    overrides: dict[str, Any], passthrough: dict[str, Any]
) -> None:
    want = desired(overrides=overrides, passthrough=passthrough, original="keep")
    clone = live_job(CLONE, **server_shape(deep_merge(overrides, passthrough)))
    spec_body = want["finance"].spec.managed_body()
    prior = entry(spec_body, original="keep", original_retired=None)
    # the kept original is on manual: an automatic clone beside it is no transfer conflict
    plan = plan_of(want, prior, [RETIRED_SOURCE, clone])
    assert plan.actions[0].kind is ActionKind.noop, plan.actions[0]


def test_delete_on_a_source_other_specs_share_is_refused() -> None:
    both = {
        **desired("finance", overrides=OVERRIDES, original="delete"),
        **desired("hr", overrides={"name": "HR"}, original="manual"),
    }
    with pytest.raises(PlanError) as caught:
        plan_of(both, {}, [live_job(SOURCE, schedule={"mode": "manual"})])
    (problem,) = caught.value.problems
    assert problem.startswith("specs/finance.yaml:3:1: finance: `original: delete`")
    assert "hr (specs/finance.yaml:3:1) also clone" in problem


def test_prune_retires_superseded_clones_before_forgetting() -> None:
    prior = entry(superseded=[OTHER])
    jobs = [RETIRED_SOURCE, applied_clone(), live_job(OTHER)]
    (action,) = plan_of({}, prior, jobs, prune=True).actions
    assert [(s.op, s.job_id, s.role) for s in action.steps] == [
        (StepOp.retire, CLONE, "clone"),
        (StepOp.retire, OTHER, "old_clone"),
        (StepOp.forget, None, "clone"),
    ]


# --- enums stay enums; request bodies are plain JSON ------------------------------------------


@pytest.mark.parametrize("policy", list(OriginalPolicy))
def test_the_action_carries_the_specs_policy_member(policy: OriginalPolicy) -> None:
    want = desired(overrides=OVERRIDES, original=policy.value)
    assert want["finance"].spec.original is policy
    (action,) = plan_of(want, {}, [live_job(SOURCE)]).actions
    assert action.original is policy
    assert all(is_plain_json(step.body) for step in action.steps)
    assert is_plain_json(action.applied)
    (again,) = Plan.from_json(plan_of(want, {}, [live_job(SOURCE)]).to_json()).actions
    assert again.original is policy


def test_schedule_modes_are_enum_members_compared_with_live_strings() -> None:
    want = desired(overrides={"schedule": {"mode": "ad-hoc"}})
    schedule = want["finance"].spec.overrides.schedule
    assert schedule is not None and schedule.mode is ScheduleMode.ad_hoc
    assert not needs_every_job(want)  # ad-hoc never runs by itself
    # an original already on manual (a plain string from the server) is left alone
    (action,) = plan_of(want, {}, [live_job(SOURCE, schedule={"mode": "manual"})]).actions
    assert [step.op for step in action.steps] == [StepOp.clone, StepOp.verify]
    (action,) = plan_of(want, {}, [live_job(SOURCE, schedule={"mode": "auto"})]).actions
    retire = action.steps[-1]
    assert retire.how is RetireHow.manual and retire.body is not None
    assert retire.body["schedule"] == {"mode": "manual"}
    assert type(retire.body["schedule"]["mode"]) is str


def test_a_live_job_state_does_not_know_bearing_the_clone_name_refuses_the_plan() -> None:
    stray = live_job(OTHER, name="Finance archive")
    with pytest.raises(PlanError, match=f"jobspec import finance {OTHER}") as refused:
        plan_of(desired(overrides=OVERRIDES), {}, [live_job(SOURCE), stray])
    assert refused.value.hint is not None and "jobspec import" in refused.value.hint


def test_the_clone_an_interrupted_run_may_have_made_is_left_to_recovery() -> None:
    stray = live_job(OTHER, name="Finance archive")
    plan = plan_of(
        desired(overrides=OVERRIDES),
        {},
        [live_job(SOURCE), stray],
        interrupted={"finance": "Finance archive"},
    )
    assert plan.actions[0].kind is ActionKind.create


def test_a_new_clone_may_not_take_the_name_of_an_orphans_clone() -> None:
    orphan = entry()["finance"]
    want = desired("other", overrides=OVERRIDES)
    with pytest.raises(PlanError, match="the name of finance's clone"):
        plan_of(want, {"finance": orphan}, [live_job(SOURCE), applied_clone()])
