"""Choosing PostgreSQL: URLs and workspaces, where a password may come from, the move rule.

None of these needs a database.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobspec.errors import StateError, UsageError
from jobspec.settings import load_settings, state_location
from jobspec.state import (
    FileStateStore,
    PostgresStateStore,
    State,
    is_database_url,
    open_state_store,
    parse_location,
    transfer_serial,
)
from tests.state.helpers import make_entry

ENV = {"JOBSPEC_SERVER": "http://localhost:9090", "JOBSPEC_TOKEN": "t"}
LINEAGE = "6f1e8a52-9a39-4a4e-9a1d-1a2b3c4d5e6f"
OTHER = "0b7d6c5e-4f3a-4b2c-8d1e-0f9a8b7c6d5e"


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("url", "conninfo", "workspace", "shown", "has_password"),
    [
        (
            "postgresql://db.example.com/jobspec",
            "postgresql://db.example.com/jobspec",
            "default",
            "postgresql://db.example.com/jobspec?workspace=default",
            False,
        ),
        (
            "postgres://ci@db:5433/js?sslmode=require&workspace=finance/eu",
            "postgres://ci@db:5433/js?sslmode=require",
            "finance/eu",
            "postgres://ci@db:5433/js?sslmode=require&workspace=finance/eu",
            False,
        ),
        (
            "postgresql://ci:hunter2@db/js?workspace=a",
            "postgresql://ci:hunter2@db/js",
            "a",
            "postgresql://ci@db/js?workspace=a",
            True,
        ),
        (
            "postgresql://ci@h1:5432,h2:5432/js?password=hunter2&target_session_attrs=read-write",
            "postgresql://ci@h1:5432,h2:5432/js?password=hunter2&target_session_attrs=read-write",
            "default",
            "postgresql://ci@h1:5432,h2:5432/js?target_session_attrs=read-write&workspace=default",
            True,
        ),
        (
            "POSTGRESQL:///js",
            "POSTGRESQL:///js",
            "default",
            "POSTGRESQL:///js?workspace=default",
            False,
        ),
    ],
)
def test_a_url_is_split_into_libpq_part_workspace_and_a_printable_form(
    url: str, conninfo: str, workspace: str, shown: str, has_password: bool
) -> None:
    where = parse_location(url)
    assert (where.conninfo, where.workspace, where.shown) == (conninfo, workspace, shown)
    assert where.has_password is has_password
    assert "hunter2" not in where.shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://db/js?workspace=a&workspace=b", "more than once"),
        ("postgresql://db/js?workspace=", "not a valid name"),
        ("postgresql://db/js?workspace=has space", "not a valid name"),
        ("postgresql://db/js?workspace=-x", "not a valid name"),
    ],
)
def test_a_bad_workspace_is_a_usage_error(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_location(url)


def test_the_location_chooses_the_store(tmp_path: Path) -> None:
    assert is_database_url("postgres://db/js") and is_database_url(" PostgreSQL://db/js")
    assert not is_database_url("postgres.json") and not is_database_url(tmp_path)
    assert isinstance(open_state_store("postgresql://db/js?workspace=w"), PostgresStateStore)
    assert isinstance(open_state_store("jobspec.state.json"), FileStateStore)
    assert isinstance(open_state_store(tmp_path / "s.json"), FileStateStore)
    store = open_state_store("postgresql://ci:hunter2@db/js?workspace=w")
    assert "hunter2" not in store.location + repr(store)


def test_a_password_in_the_toml_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    for url in ("postgresql://ci:hunter2@db/js", "postgresql://ci@db/js?password=hunter2"):
        (tmp_path / "jobspec.toml").write_text(f'state = "{url}"\n')
        for load in (
            lambda: load_settings(env=ENV, config_path=None),
            lambda: state_location(env={}, flag=None),
        ):
            with pytest.raises(UsageError) as caught:
                load()
            error = caught.value
            assert "contains a password" in error.message and "jobspec.toml" in error.message
            assert error.hint is not None and "PGPASSWORD" in error.hint
            assert "hunter2" not in error.message + error.hint


def test_a_url_comes_from_flag_env_or_toml_in_that_order(tmp_path: Path) -> None:
    (tmp_path / "jobspec.toml").write_text('state = "postgresql://db/js?workspace=toml"\n')
    secret = "postgresql://ci:from-ci-secrets@db/js?workspace=env"
    assert load_settings(env=ENV, config_path=None).state_path == (
        "postgresql://db/js?workspace=toml"
    )
    assert state_location(env={}, flag=None) == "postgresql://db/js?workspace=toml"
    # a password outside the repository (CI secrets, the command line) is accepted
    assert load_settings(env={**ENV, "JOBSPEC_STATE": secret}, config_path=None).state_path == (
        secret
    )
    assert state_location(env={"JOBSPEC_STATE": secret}, flag=None) == secret
    assert state_location(env={"JOBSPEC_STATE": secret}, flag="here.json") == Path("here.json")
    (tmp_path / "jobspec.toml").write_text('state = "st/s.json"\n')
    assert state_location(env={}, flag=None) == Path("st/s.json")  # beside ./jobspec.toml
    (tmp_path / "jobspec.toml").unlink()
    assert state_location(env={}, flag=None) == Path("jobspec.state.json")


def test_file_users_and_help_never_load_psycopg() -> None:
    code = (
        "import sys, jobspec.cli, jobspec.state, jobspec.settings\n"
        "jobspec.state.open_state_store('postgresql://db/js')\n"
        "print('psycopg' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def _state(lineage: str | None, serial: int, *addresses: int) -> State:
    return State(
        lineage=lineage,
        serial=serial,
        entries={f"a{i}": make_entry(i) for i in addresses},
    )


@pytest.mark.parametrize(
    ("source", "target", "force", "expected"),
    [
        (_state(LINEAGE, 5, 1), _state(None, 0), False, 5),  # into an empty state
        (_state(LINEAGE, 7, 1, 2), _state(LINEAGE, 5, 1), False, 7),  # newer: fast-forward
        (_state(LINEAGE, 5, 1), _state(LINEAGE, 5, 1), False, None),  # the same: nothing
        (_state(LINEAGE, 3, 1), _state(LINEAGE, 5, 1), True, 6),  # older, forced: serial + 1
        (_state(LINEAGE, 5, 2), _state(LINEAGE, 5, 1), True, 6),  # diverged, forced
        (_state(OTHER, 2, 1), _state(LINEAGE, 5, 1), True, 6),  # foreign, forced
        (_state(OTHER, 9, 1), _state(LINEAGE, 5, 1), True, 9),
    ],
)
def test_transfer_serial(source: State, target: State, force: bool, expected: int | None) -> None:
    assert transfer_serial(source, target, force=force, what="push") == expected


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (_state(None, 0), _state(LINEAGE, 1), "holds no state"),
        (_state(OTHER, 9, 1), _state(LINEAGE, 5, 1), "different states"),
        (_state(LINEAGE, 3, 1), _state(LINEAGE, 5, 1), "the source is older"),
        (_state(LINEAGE, 5, 2), _state(LINEAGE, 5, 1), "they diverged"),
    ],
)
def test_transfer_refusals(source: State, target: State, message: str) -> None:
    with pytest.raises(StateError, match=message) as caught:
        transfer_serial(source, target, force=False, what="push")
    if source.lineage is not None:
        assert caught.value.hint is not None and "--force" in caught.value.hint


BARE_PERCENT = "Pg%zz-Secret-41"
KEY_PASSWORD = "Ssl-Key-Pass-77"


def test_a_password_with_a_bare_percent_is_not_quoted_by_the_parse_error() -> None:
    store = PostgresStateStore(f"postgresql://jobspec:{BARE_PERCENT}@db.example/jobspec")
    with pytest.raises(UsageError) as caught:
        store.read()
    text = f"{caught.value.message} {caught.value.hint}"
    assert "malformed state URL" in text
    assert BARE_PERCENT not in text and "zz-Secret" not in text


def test_sslpassword_is_in_no_message_naming_the_state() -> None:
    url = f"postgresql://jobspec@127.0.0.1:1/jobspec?sslpassword={KEY_PASSWORD}&connect_timeout=2"
    store = PostgresStateStore(url)
    assert KEY_PASSWORD not in store.location + repr(store)
    assert "sslpassword" not in store.location
    with pytest.raises(StateError) as caught:
        store.read()
    assert "cannot connect" in caught.value.message
    assert KEY_PASSWORD not in f"{caught.value.message} {caught.value.hint}"
