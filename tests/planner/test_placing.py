"""Endpoints in every documented form (issue 24): item chains are folders, item ids and uris
are unplaced, and an unplaced endpoint is a warning or a refusal, never silence."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.endpoints import Unplaced, target_folder, with_folders
from jobspec.model import deep_merge
from jobspec.render import render_text
from tests.planner.helpers import SOURCE, live_job, plan_of
from tests.planner.test_conflicts import STRANGER, into, refused, spec, warned, writer

CHAIN = {"item": {"parent": {"root": True, "name": "Sites"}, "name": "Shared"}}
"""The documented UI form: `/Sites/Shared` as an item chain."""


@pytest.mark.parametrize(
    ("target", "folder"),
    [
        ({"path": "/A/B"}, "/A/B"),
        (CHAIN, "/Sites/Shared"),
        ({"item": {"name": "Top"}}, "/Top"),  # no parent: the chain starts here
        (
            {"item": {"parent": {"parent": {"root": True, "name": "a"}, "name": "b"}, "name": "c"}},
            "/a/b/c",
        ),
        ({"path": "/P", **CHAIN}, "/P"),  # a path wins: a clone jobspec made names one
        ({"item": {"id": "4f2a"}}, Unplaced("a platform item id")),
        ({"item": {"parent": {"id": "9"}, "name": "x"}}, Unplaced("a platform item id")),
        (
            {"item": {"parent": {"root": True, "name": ""}, "name": "x"}},
            Unplaced("an item without a name"),
        ),
        ({"uri": "box://folder/123"}, Unplaced("a uri")),
        ({}, Unplaced("no path")),
        (None, Unplaced("no target")),
    ],
)
def test_target_folder(target: Any, folder: str | Unplaced) -> None:
    result = target_folder(target)
    if isinstance(folder, Unplaced):
        assert isinstance(result, Unplaced)
    else:
        assert result == folder


def test_a_chain_longer_than_any_real_one_is_unplaced() -> None:
    item: dict[str, Any] = {"root": True, "name": "r"}
    for n in range(100):
        item = {"parent": item, "name": f"n{n}"}
    assert isinstance(target_folder({"item": item}), Unplaced)


def test_with_folders_names_the_chain_and_leaves_paths_alone() -> None:
    job = {"transfer": {"destination": {"connection": {"id": "sp"}, "target": CHAIN}}}
    placed = with_folders(job)
    assert placed["transfer"]["destination"]["target"]["path"] == "/Sites/Shared"
    assert "path" not in job["transfer"]["destination"]["target"]  # a new dict
    plain = {"transfer": {"destination": {"target": {"path": "/x"}}}}
    assert with_folders(plain) is plain


def chained(job_id: str, target: dict[str, Any], connection: str = "sp") -> Any:
    """A scheduled live job whose destination target is `target` (no path)."""
    job = writer(job_id, "/unused", connection)
    raw = deep_merge(job.raw, {})
    raw["transfer"]["destination"]["target"] = target
    return type(job).from_raw(raw)


def test_an_item_chain_target_conflicts_as_its_path_would() -> None:
    want = {"finance": spec("finance", SOURCE, into("/Sites/Shared/Finance"))}
    by_path = refused(want, [writer(SOURCE, "/Sites/A"), writer(STRANGER, "/Sites/Shared")])
    by_chain = refused(want, [writer(SOURCE, "/Sites/A"), chained(STRANGER, CHAIN)])
    assert len(by_path) == len(by_chain) == 1
    assert "which is inside destination '/Sites/Shared' on connection sp" in by_chain[0]


@pytest.mark.parametrize("target", [{"item": {"id": "4f2a"}}, {"uri": "sp://x"}])
def test_a_scheduled_stranger_that_cannot_be_placed_is_named_in_a_warning(
    target: dict[str, Any],
) -> None:
    want = {"finance": spec("finance", SOURCE, into("/Sites/Shared/Finance"))}
    (warning,) = warned(want, [writer(SOURCE, "/Sites/A"), chained(STRANGER, target)])
    assert warning.startswith("specs/jobs.yaml:3:1: finance: not checked for transfer conflicts")
    assert f"job {STRANGER} 'Writer ffff' (destination on connection sp: " in warning


def test_an_unplaced_stranger_on_another_connection_is_not_worth_a_warning() -> None:
    want = {"finance": spec("finance", SOURCE, into("/Sites/Shared/Finance"))}
    other = chained(STRANGER, {"item": {"id": "1"}}, connection="elsewhere")
    assert warned(want, [writer(SOURCE, "/Sites/A"), other]) == []


def unplaced_source() -> Any:
    return chained(SOURCE, {"item": {"id": "4f2a"}})


def test_a_scheduled_clone_that_cannot_be_placed_is_refused() -> None:
    want = {"finance": spec("finance", SOURCE, {"schedule": {"mode": "auto"}})}
    (problem,) = refused(want, [unplaced_source()])
    assert problem.startswith("specs/jobs.yaml:3:1: finance: the clone's destination on ")
    assert "a platform item id, not a folder" in problem
    assert problem.endswith("or `allow_unplaced: true` to run it unchecked")


def test_allow_unplaced_makes_it_a_warning_and_a_manual_clone_needs_nothing() -> None:
    want = {"finance": spec("finance", SOURCE, {"schedule": {"mode": "auto"}}, allow_unplaced=True)}
    (warning,) = warned(want, [unplaced_source()])
    assert warning.endswith("(accepted by allow_unplaced)")
    manual = {"finance": spec("finance", SOURCE, {"schedule": {"mode": "manual"}})}
    assert warned(manual, [unplaced_source()]) == []


def test_a_spec_naming_a_path_places_its_clone() -> None:
    want = {"finance": spec("finance", SOURCE, into("/Elsewhere"))}
    assert warned(want, [unplaced_source()]) == []


def test_a_plan_shows_an_item_chain_target_as_the_folder_it_names() -> None:
    source = chained(SOURCE, CHAIN)
    want = {"finance": spec("finance", SOURCE, into("/Sites/Other"))}
    text = render_text(plan_of(want, {}, [source]))
    assert 'transfer.destination.target.path: "/Sites/Shared" → "/Sites/Other"' in text
    assert "(unset)" not in text


def test_clone_bodies_send_an_expanded_connection_as_its_id() -> None:
    expanded = {"id": "sp", "name": "SharePoint", "type": "connection", "modified_on": 5}
    source = live_job(SOURCE, transfer={"destination": {"connection": expanded, "options": None}})
    want = {"finance": spec("finance", SOURCE, into("/Sites/Other", connection="sp"))}
    plan = plan_of(want, {}, [source])
    body = plan.actions[0].steps[0].body
    assert body is not None
    assert body["transfer"]["destination"]["connection"] == {"id": "sp"}
    assert "options" not in body["transfer"]["destination"]
    names_only = {
        "finance": spec(
            "finance", SOURCE, {"transfer": {"destination": {"target": {"path": "/x"}}}}
        )
    }
    body = plan_of(names_only, {}, [source]).actions[0].steps[0].body
    assert body is not None
    assert body["transfer"]["destination"]["connection"] == {"id": "sp"}
