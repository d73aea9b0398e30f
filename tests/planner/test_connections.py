"""Connections checked and named (issue 24): ids the server lacks are refused with the closest
ones, names are resolved and recorded as ids, and plans and drift show names beside ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobspec.drift import find_drift
from jobspec.endpoints import ServerConnection
from jobspec.errors import PlanError
from jobspec.render import render_json, render_markdown, render_text
from tests.planner.helpers import (
    OVERRIDES,
    SOURCE,
    applied_clone,
    desired,
    entry,
    live_job,
    plan_of,
)

PROD = "5dc531df6b2a4c8e9f3d7a1b0c5e8f42"
ARCHIVE = "9a1b7c3d5e2f4a6b8c0d1e3f5a7b9c2d"
SERVER = [
    ServerConnection(PROD, "SharePoint Prod", "office365"),
    ServerConnection(ARCHIVE, "Box Archive", "box"),
    ServerConnection("9a1b00000000000000000000000000ff", "Box Archive 2019", "box"),
    ServerConnection("box", "Box"),
    ServerConnection("sp", "SharePoint"),
]


def moving_to(connection: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A spec moving the clone's destination to `connection`, on a manual schedule."""
    transfer = {"destination": {"connection": connection, "target": {"path": "/Archive"}}}
    return desired(overrides={"schedule": {"mode": "manual"}, "transfer": transfer}, **more)


def source() -> Any:
    return live_job(SOURCE, transfer={"destination": {"connection": {"id": PROD}}})


def refused(want: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(PlanError) as caught:
        plan_of(want, {}, [source()], **kwargs)
    return caught.value.problems


def test_a_connection_id_the_server_lacks_is_refused_with_the_closest_ids() -> None:
    (problem,) = refused(moving_to({"id": "9a1b7c3d5e2f4a6b8c0d1e3f5a7b9c2e"}), connections=SERVER)
    assert problem.startswith(
        "specs/finance.yaml:3:1: finance: transfer.destination.connection: connection "
        "9a1b7c3d5e2f4a6b8c0d1e3f5a7b9c2e does not exist on the server; closest: "
        f"{ARCHIVE} 'Box Archive', 9a1b00000000000000000000000000ff 'Box Archive 2019'"
    )


def test_an_id_the_server_has_plans_and_ids_go_unchecked_without_the_list() -> None:
    assert plan_of(moving_to({"id": ARCHIVE}), {}, [source()], connections=SERVER).actions
    assert plan_of(moving_to({"id": "nowhere"}), {}, [source()]).actions


def test_a_connection_name_is_resolved_and_the_plan_records_the_id() -> None:
    plan = plan_of(moving_to({"name": "Box Archive"}), {}, [source()], connections=SERVER)
    (action,) = plan.actions
    assert action.applied["transfer"]["destination"]["connection"] == {"id": ARCHIVE}
    body = action.steps[0].body
    assert body is not None and body["transfer"]["destination"]["connection"] == {"id": ARCHIVE}
    assert plan.connections == {ARCHIVE: "Box Archive", PROD: "SharePoint Prod"}


@pytest.mark.parametrize(
    ("name", "server", "says"),
    [
        ("Box archive", SERVER, "no connection is named 'Box archive'; closest: 'Box Archive'"),
        (
            "Box",
            [*SERVER, ServerConnection("box2", "Box")],
            "2 connections are named 'Box' (box, box2)",
        ),
        ("Box Archive", None, "the server lists no connections"),
    ],
)
def test_a_name_missing_or_ambiguous_is_refused(
    name: str, server: list[ServerConnection] | None, says: str
) -> None:
    (problem,) = refused(moving_to({"name": name}), connections=server)
    assert problem.startswith("specs/finance.yaml:3:1: finance: transfer.destination.connection: ")
    assert says in problem


def test_a_spec_digest_is_of_the_spec_as_written() -> None:
    by_name = plan_of(moving_to({"name": "Box Archive"}), {}, [source()], connections=SERVER)
    by_id = plan_of(moving_to({"id": ARCHIVE}), {}, [source()], connections=SERVER)
    assert by_name.specs["finance"] != by_id.specs["finance"]


def test_a_connection_change_shows_both_names_in_every_format() -> None:
    plan = plan_of(moving_to({"id": ARCHIVE}), {}, [source()], connections=SERVER)
    line = f'"{PROD}" ("SharePoint Prod") → "{ARCHIVE}" ("Box Archive")'
    assert f"transfer.destination.connection.id: {line}" in render_text(plan)
    markdown = render_markdown(plan)
    assert f'- "{PROD}" ("SharePoint Prod")' in markdown
    assert f'+ "{ARCHIVE}" ("Box Archive")' in markdown
    document = json.loads(render_json(plan))
    assert document["connections"] == {ARCHIVE: "Box Archive", PROD: "SharePoint Prod"}


def test_a_plan_without_connections_keeps_its_form() -> None:
    plan = plan_of(desired(overrides=OVERRIDES), entry(), [live_job(SOURCE), applied_clone()])
    assert "connections" not in json.loads(render_json(plan))


def test_a_hostile_connection_name_stays_inside_its_code_fence() -> None:
    server = [ServerConnection(ARCHIVE, "```\n@everyone [x](http://evil)"), SERVER[0]]
    markdown = render_markdown(
        plan_of(moving_to({"id": ARCHIVE}), {}, [source()], connections=server)
    )
    assert "\n@everyone" not in markdown
    assert "](http://evil)" not in markdown.replace('\\"', '"').split("```diff")[0]


def test_drift_names_connections_too() -> None:
    applied = {"transfer": {"destination": {"connection": {"id": ARCHIVE}}}}
    clone = applied_clone(transfer={"destination": {"connection": {"id": PROD}}})
    want = desired(overrides=applied)
    prior = entry(applied)
    plan = plan_of(want, prior, [live_job(SOURCE), clone], connections=SERVER)
    (found,) = [d for d in find_drift(plan, prior=prior, live={}) if "connection" in d.detail]
    assert found.detail.startswith(
        f'transfer.destination.connection.id: clone has "{PROD}" ("SharePoint Prod"), '
        f'spec says "{ARCHIVE}" ("Box Archive")'
    )


@pytest.mark.parametrize("connection", [{}, {"id": ARCHIVE, "name": "Box Archive"}])
def test_a_connection_is_given_by_id_or_by_name_not_both_nor_neither(
    connection: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="give the connection's `id` or its `name`"):
        moving_to(connection)


def test_a_server_s_huge_connection_ids_and_names_are_shortened_in_messages() -> None:
    huge = [ServerConnection("9a1b" + "x" * 100_000, "n" * 100_000)] * 5
    (problem,) = refused(moving_to({"id": "9a1bffff"}), connections=huge)
    assert len(problem) < 2_000
    (problem,) = refused(moving_to({"name": "n" * 100_000}), connections=huge)
    assert len(problem) < 200_000 and "and 2 more" in problem
