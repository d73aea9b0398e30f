"""Every jobspec.toml key is also a JOBSPEC_<KEY> variable, checked with an error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jobspec.cli import cli
from jobspec.errors import UsageError
from jobspec.settings import CONFIG_KEYS, ENV_NAMES, load_settings, specs_location

BASE = {
    "JOBSPEC_SERVER": "http://localhost:9090",
    "JOBSPEC_USERNAME": "admin",
    "JOBSPEC_PASSWORD": "pa55-word",
}
TOML = """server = "http://127.0.0.1:1/"
specs = "from-toml"
concurrency = 2
timeout = 5
clone_settle = 7
"""


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_every_config_key_has_its_variable() -> None:
    assert set(ENV_NAMES) == set(CONFIG_KEYS)
    for key in CONFIG_KEYS:
        assert ENV_NAMES[key][0] == f"JOBSPEC_{key.upper()}"


def test_the_variables_beat_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "jobspec.toml"
    config.parent.mkdir()
    config.write_text(TOML)
    env = {
        **BASE,
        "JOBSPEC_SPECS": "from-env",
        "JOBSPEC_CONCURRENCY": "4",
        "JOBSPEC_TIMEOUT": "2.5",
        "JOBSPEC_CLONE_SETTLE": "1",
        "JOBSPEC_STATE": "env.state.json",
    }
    settings = load_settings(env=env, config_path=config)
    assert settings.server == "http://localhost:9090/"
    assert settings.specs_dir == Path("from-env")  # relative to here, not to the config file
    assert settings.state_path == Path("env.state.json")
    assert (settings.concurrency, settings.timeout, settings.clone_settle) == (4, 2.5, 1.0)
    assert settings.origins["concurrency"] == "JOBSPEC_CONCURRENCY"
    assert settings.origins["specs"] == "JOBSPEC_SPECS"
    from_file = load_settings(env=BASE, config_path=config)
    assert from_file.specs_dir == config.parent / "from-toml"
    assert (from_file.concurrency, from_file.timeout, from_file.clone_settle) == (2, 5.0, 7.0)


def test_a_flag_beats_the_variable() -> None:
    settings = load_settings(
        env={**BASE, "JOBSPEC_CONCURRENCY": "4"}, config_path=None, concurrency=16
    )
    assert settings.concurrency == 16


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JOBSPEC_CONCURRENCY", "abc"),
        ("JOBSPEC_CONCURRENCY", "0"),
        ("JOBSPEC_CONCURRENCY", "65"),
        ("JOBSPEC_CONCURRENCY", "1.5"),
        ("JOBSPEC_TIMEOUT", "soon"),
        ("JOBSPEC_TIMEOUT", "-1"),
        ("JOBSPEC_TIMEOUT", "nan"),
        ("JOBSPEC_TIMEOUT", "inf"),
        ("JOBSPEC_CLONE_SETTLE", "x"),
        ("JOBSPEC_SERVER", "ftp://example.com/"),
        ("JOBSPEC_STATE", "postgresql://db.example.com/jobspec?workspace=%25%25"),
        ("SKYSYNC_SERVER", "http://x:abc/"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_variable(name: str, value: str) -> None:
    env = {**BASE, name: value}
    if name == "SKYSYNC_SERVER":
        del env["JOBSPEC_SERVER"]
    with pytest.raises(UsageError) as raised:
        load_settings(env=env, config_path=None)
    assert name in raised.value.message


def test_specs_location_reads_the_variable_below_the_flag() -> None:
    env = {"JOBSPEC_SPECS": "elsewhere"}
    assert specs_location(flag=None, env=env) == Path("elsewhere")
    assert specs_location(flag="mine", env=env) == Path("mine")
    assert specs_location(flag=None) == Path("specs")


def test_a_bad_concurrency_variable_exits_1_naming_it() -> None:
    result = CliRunner().invoke(cli, ["plan"], env={**BASE, "JOBSPEC_CONCURRENCY": "abc"})
    assert result.exit_code == 1
    assert "JOBSPEC_CONCURRENCY" in result.stderr
    assert "'abc'" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_reads_the_specs_variable(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "version: 1\njobs:\n  a: {source: c4d8c04a69224ef0bfaa2f8e920b8792}\n"
    )
    result = CliRunner().invoke(cli, ["validate"], env={"JOBSPEC_SPECS": "elsewhere"})
    assert result.stdout == "ok: 1 job in 1 file\n"


def test_the_list_and_cutover_keys_have_their_variables_too() -> None:
    settings = load_settings(
        env={**BASE, "JOBSPEC_IGNORE_UNREADABLE": "system, 0f3a ,", "JOBSPEC_CUTOVER": "verified"},
        config_path=None,
    )
    assert settings.ignore_unreadable == ("system", "0f3a")
    assert settings.cutover.value == "verified"
    with pytest.raises(UsageError) as raised:
        load_settings(env={**BASE, "JOBSPEC_CUTOVER": "someday"}, config_path=None)
    assert "JOBSPEC_CUTOVER" in raised.value.message
