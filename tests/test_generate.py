"""generate.py, the pure half of `jobspec generate`: selection, addresses, --set, names, and
the YAML it becomes (spec.render_generated), read back by the spec loader."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from jobspec.errors import UsageError
from jobspec.generate import (
    Selection,
    check_name_template,
    derive_address,
    describe,
    generate,
    parse_assignments,
)
from jobspec.model import (
    ADDRESS_RE,
    DesiredJob,
    JobSpec,
    LiveJob,
    OriginalPolicy,
    SourceLocation,
    StateEntry,
)
from jobspec.spec import format_spec_text, load_specs, render_generated, yaml_value
from tests.helpers import make_job

NEW_CONNECTION = "0e3b9a4f5c6d4e7f8a9b0c1d2e3f4a5b"


def job_id(n: int) -> str:
    return hashlib.md5(f"job {n}".encode()).hexdigest()


def live(n: int, name: str | None = None, *, ident: str | None = None, **changes: Any) -> LiveJob:
    raw = make_job(name=name or f"Job {n}", **changes)
    return LiveJob.from_raw({"id": ident or job_id(n), "status": "idle", **raw})


def spec(address: str, source: str, name: str | None = None) -> DesiredJob:
    overrides = {"name": name} if name else {}
    return DesiredJob(
        address=address,
        spec=JobSpec.model_validate({"source": source, "overrides": overrides}),
        location=SourceLocation(file="specs/jobs.yaml", line=3, column=3),
    )


def entry(source: str, clone: str) -> StateEntry:
    return StateEntry(
        source_id=source,
        clone_id=clone,
        original=OriginalPolicy.manual,
        applied={},
        applied_digest="0",
    )


def sets(*given: str) -> tuple[list[Any], list[str]]:
    return parse_assignments(given, yaml_value)


# --- addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("Finance to SharePoint", "finance-to-sharepoint"),
        ("Finance → SharePoint (2026)", "finance-sharepoint-2026"),
        ("Überweisungen / Zürich", "uberweisungen-zurich"),
        ("  HR:: Box  ", "hr-box"),
        ("v1.2_final", "v1.2_final"),
        ("--.weird.--", "weird"),
        ("営業", "job"),
        ("", "job"),
        ("a" * 80, "a" * 60),
    ],
)
def test_addresses_come_from_names(name: str, address: str) -> None:
    assert derive_address(name) == address


@given(st.text(max_size=80))
def test_every_name_gives_a_valid_address(name: str) -> None:
    assert ADDRESS_RE.match(derive_address(name))


def test_addresses_are_unique_and_do_not_depend_on_listing_order() -> None:
    jobs = [live(1, "Finance"), live(2, "finance"), live(3, "HR"), live(4, "Sales")]
    taken = {"hr": spec("hr", job_id(99))}
    addresses = []
    for _ in range(5):
        shuffled = random.sample(jobs, len(jobs))
        made = generate(
            selection=Selection(every=True),
            candidates=shuffled,
            live=shuffled,
            desired=taken,
            prior={},
        )
        addresses.append({new.job.id: new.address for new in made.specs})
    assert all(found == addresses[0] for found in addresses)
    assert addresses[0] == {
        job_id(1): f"finance-{job_id(1)[:8]}",
        job_id(2): f"finance-{job_id(2)[:8]}",
        job_id(3): f"hr-{job_id(3)[:8]}",  # `hr` is a spec's address already
        job_id(4): "sales",
    }


def test_ids_sharing_a_prefix_get_longer_suffixes() -> None:
    a, b = live(1, "Finance", ident="ab" * 16), live(2, "Finance", ident="ab" * 4 + "cd" * 12)
    made = generate(
        selection=Selection(every=True), candidates=[a, b], live=[a, b], desired={}, prior={}
    )
    assert sorted(new.address for new in made.specs) == [
        "finance-abababab",
        "finance-ababababcdcd",
    ]


# --- selection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (Selection(), "say which jobs"),
        (Selection(every=True, category="x"), "--all selects every job"),
        (Selection(ids=(job_id(1),), query="x"), "job ids or filters, not both"),
        (Selection(ids=("C4D8",)), "not a job id"),
        (Selection(category=" "), "--category needs a value"),
    ],
)
def test_a_selection_that_selects_nothing_clear_is_refused(
    selection: Selection, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        selection.check()


def test_category_by_name_or_id_kind_and_status_all_must_match() -> None:
    finance = live(1, category={"id": 2, "name": "Finance"})
    failed = live(2, category={"id": 2, "name": "Finance"}, status="failed")
    other = live(3, category={"id": 3, "name": "Migrations"})
    jobs = [finance, failed, other]
    assert [j for j in jobs if Selection(category="finance").picks(j)] == [finance, failed]
    assert [j for j in jobs if Selection(category="3").picks(j)] == [other]
    picked = [j for j in jobs if Selection(category="Finance", status="failed").picks(j)]
    assert picked == [failed]
    assert not Selection(kind="folder_mapping").picks(finance)


# --- --set --------------------------------------------------------------------------------------


def test_set_values_are_typed_as_yaml() -> None:
    found, problems = sets(
        f"transfer.destination.connection.id={NEW_CONNECTION}",
        "schedule={mode: manual}",
        "disabled=true",
        "priority=3",
        "transfer.delete_propagation=mirror",
        "passthrough.transfer.filter.exclude=[a, b]",
    )
    assert problems == []
    assert [(a.dotted, a.value) for a in found] == [
        ("transfer.destination.connection.id", NEW_CONNECTION),
        ("schedule", {"mode": "manual"}),
        ("disabled", True),
        ("priority", 3),
        ("transfer.delete_propagation", "mirror"),
        ("passthrough.transfer.filter.exclude", ["a", "b"]),
    ]


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("status=idle", "`status` is kept by the server"),
        ("transfer.source.event_position=4", "kept by the server"),
        ("passthrough.id=1", "`id` is kept by the server"),
        ("kind=transfer", "a clone always has its source's kind"),
        ("name=x", "use --name TEMPLATE"),
        ("transfer.lock_propogation=ignore", "did you mean `lock_propagation`?"),
        ("transfer.foo=1", "--set passthrough.transfer.foo=…"),
        ("transfer.transfer_type.x=1", "`transfer.transfer_type` is a single value"),
        ("transfer.transfer_type=cpy", "Input should be 'sync'"),
        ("schedule={mode: auto, x: 1}", "schedule: unknown key `x`"),
        ("transfer.destination.connection.id=[1, 2]", "valid string"),
        ("passthrough.transfer.transfer_type=copy", "jobspec knows"),
        ("passthrough=1", "passthrough.FIELD=VALUE"),
        ("transfer..x=1", "empty field name"),
        ("no-equals-sign", "expected PATH=VALUE"),
        ("schedule=[unclosed", "not YAML"),
    ],
)
def test_set_refuses_what_jobspec_cannot_manage_with_the_reason(given: str, reason: str) -> None:
    found, problems = sets(given)
    assert found == []
    assert len(problems) == 1 and problems[0].startswith(f"--set {given}: ")
    assert reason in problems[0]


def test_set_lists_every_problem_and_refuses_a_field_set_twice() -> None:
    found, problems = sets("status=1", "schedule.mode=auto", "schedule={mode: manual}", "kind=x")
    assert [a.dotted for a in found] == ["schedule.mode"]
    assert len(problems) == 3
    assert "`--set schedule.mode=auto` sets `schedule` too" in problems[1]


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{job}", r"unknown placeholder \{job\}"),
        ("{name.upper}", "unknown placeholder"),
        ("{}", "unknown placeholder"),
        ("{name", "expected '}'"),
        (" ", "needs a template"),
    ],
)
def test_bad_name_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_name_template(template)


def test_name_template_fills_name_id_and_address() -> None:
    check_name_template("{name} [{address}] {id}")
    made = generate(
        selection=Selection(every=True),
        candidates=[live(1, "Finance")],
        live=[live(1, "Finance")],
        desired={},
        prior={},
        name_template="{name} [{address}] {id}",
    )
    (new,) = made.specs
    assert new.body["overrides"]["name"] == f"Finance [finance] {job_id(1)}"


def test_clone_names_must_be_unique_across_generated_and_existing_specs() -> None:
    jobs = [live(1, "Finance"), live(2, "HR"), live(3, "Sales")]
    existing = {"sales-2026": spec("sales-2026", job_id(9), name="Sales 2026")}
    with pytest.raises(UsageError) as refused:
        generate(
            selection=Selection(every=True),
            candidates=jobs,
            live=jobs,
            desired=existing,
            prior={},
            name_template="Sales 2026",
        )
    message = refused.value.message
    assert message.startswith("cannot generate: 3 problems")
    assert "finance: its clone would be named 'Sales 2026', the clone name of sales-2026" in message
    assert "hr: its clone would be named 'Sales 2026'" in message


def test_a_job_bearing_a_clone_name_is_taken_for_that_clone_made_by_hand() -> None:
    finance, hr = live(1, "Finance"), live(2, "HR")
    by_hand, elsewhere = live(3, "Finance (2026)"), live(4, "HR (2026)")
    made = generate(
        selection=Selection(ids=(finance.id, hr.id, by_hand.id)),
        candidates=[finance, hr, by_hand, elsewhere],
        live=[finance, hr, by_hand, elsewhere],
        desired={},
        prior={},
        name_template="{name} (2026)",
    )
    # selected or not, a namesake is listed to import; selected, it gets no spec of its own
    assert [new.address for new in made.specs] == ["finance", "hr"]
    assert [(a, job.id) for a, job in made.adoptable] == [
        ("finance", by_hand.id),
        ("hr", elsewhere.id),
    ]
    assert [(left.job.id, left.reason) for left in made.left_out] == [
        (by_hand.id, "already has the clone name of finance: import it")
    ]


def test_a_clone_named_as_its_source_is_refused_only_beside_an_unknown_namesake() -> None:
    finance, twin = live(1, "Finance"), live(2, "Finance")
    made = generate(
        selection=Selection(ids=(finance.id,)),
        candidates=[finance],
        live=[finance],
        desired={},
        prior={},
        name_template="{name}",
    )
    assert made.specs[0].body["overrides"]["name"] == "Finance" and made.adoptable == []
    with pytest.raises(UsageError, match=f"job {twin.id} is already named 'Finance'"):
        generate(
            selection=Selection(ids=(finance.id,)),
            candidates=[finance, twin],
            live=[finance, twin],
            desired={},
            prior={},
            name_template="{name}",
        )
    with pytest.raises(UsageError, match="the clone name of finance-"):  # both selected
        generate(
            selection=Selection(every=True),
            candidates=[finance, twin],
            live=[finance, twin],
            desired={},
            prior={},
            name_template="{name}",
        )


# --- what is left out, and the bodies -----------------------------------------------------------


def test_managed_jobs_and_spec_sources_are_left_out_with_the_reason() -> None:
    jobs = [live(n) for n in range(1, 7)]
    ids = [job.id for job in jobs]
    prior = {"old": entry(ids[0], ids[1])}
    desired = {"written": spec("written", ids[2])}
    made = generate(
        selection=Selection(every=True), candidates=jobs, live=jobs, desired=desired, prior=prior
    )
    assert [new.job.id for new in made.specs] == ids[3:]
    assert [(left.job.id, left.reason) for left in made.left_out] == [
        (ids[0], "already the source of old in state"),
        (ids[1], "managed: the clone of old in state"),
        (ids[2], "already the source of written (specs/jobs.yaml:3:3)"),
    ]


def test_ids_that_do_not_exist_are_all_named() -> None:
    jobs = [live(1)]
    missing = (job_id(7), job_id(8))
    with pytest.raises(UsageError) as refused:
        generate(
            selection=Selection(ids=(jobs[0].id, *missing)),
            candidates=jobs,
            live=jobs,
            desired={},
            prior={},
        )
    assert all(f"job {job_id} does not exist" in refused.value.message for job_id in missing)


def test_describe_shows_name_status_endpoints_and_schedule() -> None:
    job = live(
        1,
        "Finance\nto SharePoint",
        status="running",
        category={"id": 2, "name": "Finance"},
        schedule={"mode": "auto", "run_at": {"hr": 2, "min": 0}, "days": "weekends"},
    )
    lines = describe(job)
    assert lines[0] == '"Finance\\nto SharePoint": status running, sync, category Finance'
    assert lines[1] == '  source: "/Finance" on connection 2aeae9329f7c4e0b8d5f1a6c3b7e9d01'
    assert lines[2].startswith('  destination: "/Sites/Finance/Shared Documents" on connection')
    assert lines[3] == "  schedule: auto (run_at {hr: 2, min: 0}; days weekends)"


# --- the YAML -----------------------------------------------------------------------------------


def render(made: Any) -> str:
    return render_generated(
        header=["Generated for a test"],
        jobs=[(new.address, new.body, new.comment) for new in made.specs],
    )


def test_the_file_is_canonical_and_loads_back_as_generated(tmp_path: Path) -> None:
    jobs = [live(1, "Finance # 1"), live(2, "HR: Box\r\n- evil: [x]"), live(3, "12345")]
    assignments, problems = sets(
        f"transfer.destination.connection.id={NEW_CONNECTION}", "schedule.mode=manual"
    )
    assert not problems
    made = generate(
        selection=Selection(every=True),
        candidates=jobs,
        live=jobs,
        desired={},
        prior={},
        assignments=assignments,
        original=OriginalPolicy.delete,
    )
    text = render(made)
    assert format_spec_text(text) == text  # `jobspec fmt --check` passes
    (tmp_path / "gen.yaml").write_text(text, encoding="utf-8")
    desired = load_specs(tmp_path)
    assert sorted(desired) == ["12345", "finance-1", "hr-box-evil-x"]
    for new in made.specs:
        loaded = desired[new.address].spec
        assert loaded.source == new.job.id
        assert loaded.original is OriginalPolicy.delete
        assert loaded.managed_body() == {
            "transfer": {"destination": {"connection": {"id": NEW_CONNECTION}}},
            "schedule": {"mode": "manual"},
        }
    assert '  # "HR: Box\\r\\n- evil: [x]": status idle' in text


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=6))
def test_any_names_render_to_a_file_that_loads(names: list[str]) -> None:
    check_names_render_and_load(names)


def check_names_render_and_load(names: list[str]) -> None:
    import tempfile

    jobs = [live(n, name) for n, name in enumerate(names, 1)]
    made = generate(
        selection=Selection(every=True),
        candidates=jobs,
        live=jobs,
        desired={},
        prior={},
        name_template="{name} / {id}",
    )
    text = render(made)
    assert format_spec_text(text) == text
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "gen.yaml").write_text(text, encoding="utf-8")
        desired = load_specs(Path(folder))
    assert {d.spec.source for d in desired.values()} == {job.id for job in jobs}
    for new in made.specs:
        assert desired[new.address].spec.overrides.name == f"{new.job.name} / {new.job.id}"


@pytest.mark.parametrize("name", ["\x850", "a\u2028b", "tab\there", "nul\x00x", "\x7f"])
def test_names_with_line_breaks_or_controls_render_double_quoted_and_load_back(
    name: str,
) -> None:
    check_names_render_and_load([name])


def test_set_types_a_value_by_the_schema_an_all_digit_id_stays_a_string() -> None:
    digits = "2222" * 8
    found, problems = sets(f"transfer.destination.connection.id={digits}", "priority=3")
    assert problems == []
    assert [(a.dotted, a.value) for a in found] == [
        ("transfer.destination.connection.id", digits),
        ("priority", 3),
    ]
    _, refused = sets("priority=[1, 2]")
    assert refused  # a list is no number: still refused


def test_describe_shows_an_item_chain_as_its_folder() -> None:
    chain = {"item": {"parent": {"root": True, "name": "Sites"}, "name": "HR"}}
    raw = live(1, "HR").raw
    raw["transfer"]["destination"]["target"] = chain  # a new dict per call: safe to change
    assert describe(LiveJob.from_raw(raw))[2].startswith('  destination: "/Sites/HR" on connection')
