"""Settings: flags > environment (JOBSPEC_*, then SKYSYNC_*) > jobspec.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from jobspec.errors import UsageError
from jobspec.settings import (
    ClientLogin,
    Credentials,
    PasswordLogin,
    Settings,
    StaticToken,
    load_settings,
    normalize_server,
)

USER = {"JOBSPEC_USERNAME": "admin", "JOBSPEC_PASSWORD": "pa55-word"}
LOCAL = {"JOBSPEC_SERVER": "http://localhost:9090"}


def load(
    env: dict[str, str], toml: str | None = None, tmp_path: Path | None = None, **flags: object
) -> Settings:
    config_path = None
    if toml is not None:
        assert tmp_path is not None
        config_path = tmp_path / "jobspec.toml"
        config_path.write_text(toml)
    return load_settings(env=env, config_path=config_path, **flags)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`config_path=None` reads ./jobspec.toml: run where there is none."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("env", "toml", "flags", "server"),
    [
        ({**LOCAL, **USER}, None, {}, "http://localhost:9090/"),
        (USER, 'server = "https://toml.example/"', {}, "https://toml.example/"),
        (
            {**USER, "JOBSPEC_SERVER": "https://env.example"},
            'server = "https://toml.example/"',
            {},
            "https://env.example/",
        ),
        (
            {**USER, "JOBSPEC_SERVER": "https://env.example"},
            'server = "https://toml.example/"',
            {"server": "https://flag.example/base"},
            "https://flag.example/base/",
        ),
        (
            {**USER, "SKYSYNC_SERVER": "https://skysync.example"},
            None,
            {},
            "https://skysync.example/",
        ),
        (
            {**USER, "SKYSYNC_SERVER": "https://skysync.example", "JOBSPEC_SERVER": "https://j.ex"},
            None,
            {},
            "https://j.ex/",
        ),
        # The environment, SKYSYNC_* included, outranks the file.
        (
            {**USER, "SKYSYNC_SERVER": "https://skysync.example"},
            'server = "https://toml.example/"',
            {},
            "https://skysync.example/",
        ),
        # An empty variable is unset (CI expands a missing secret to "").
        (
            {**USER, "JOBSPEC_SERVER": ""},
            'server = "https://toml.example"',
            {},
            "https://toml.example/",
        ),
    ],
)
def test_server_precedence(
    tmp_path: Path, env: dict[str, str], toml: str | None, flags: dict[str, object], server: str
) -> None:
    assert load(env, toml, tmp_path, **flags).server == server


S = SecretStr
SKY = ("SKYSYNC_USERNAME", "SKYSYNC_PASSWORD")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (USER, PasswordLogin("admin", S("pa55-word"))),
        (
            {"JOBSPEC_CLIENT_ID": "jobspec-ci", "JOBSPEC_CLIENT_SECRET": "ci-secret"},
            ClientLogin("jobspec-ci", S("ci-secret")),
        ),
        ({"JOBSPEC_TOKEN": "tok"}, StaticToken(S("tok"))),
        ({"SKYSYNC_USERNAME": "sky", "SKYSYNC_PASSWORD": "pw"}, PasswordLogin("sky", S("pw"), SKY)),
        # JOBSPEC_* wins over SKYSYNC_*; the families are never mixed.
        (
            {**USER, "SKYSYNC_USERNAME": "sky", "SKYSYNC_PASSWORD": "pw"},
            PasswordLogin("admin", S("pa55-word")),
        ),
        (
            {"JOBSPEC_TOKEN": "tok", "SKYSYNC_USERNAME": "s", "SKYSYNC_PASSWORD": "p"},
            StaticToken(S("tok")),
        ),
        # Surrounding blanks in names and tokens are dropped; passwords are kept as typed.
        (
            {"JOBSPEC_USERNAME": " admin ", "JOBSPEC_PASSWORD": " pw "},
            PasswordLogin("admin", S(" pw ")),
        ),
    ],
)
def test_credentials(env: dict[str, str], expected: Credentials) -> None:
    assert load({**LOCAL, **env}).credentials == expected  # SecretStr compares its value


@pytest.mark.parametrize(
    ("env", "message", "hint"),
    [
        ({}, "no credentials", "JOBSPEC_USERNAME and JOBSPEC_PASSWORD"),
        ({"JOBSPEC_USERNAME": "admin"}, "JOBSPEC_USERNAME is set but JOBSPEC_PASSWORD is not", ""),
        ({"JOBSPEC_PASSWORD": "x"}, "JOBSPEC_PASSWORD is set but JOBSPEC_USERNAME is not", ""),
        ({"JOBSPEC_CLIENT_ID": "c"}, "JOBSPEC_CLIENT_ID is set but JOBSPEC_CLIENT_SECRET", ""),
        ({"SKYSYNC_USERNAME": "s"}, "SKYSYNC_USERNAME is set but SKYSYNC_PASSWORD is not", ""),
        # A JOBSPEC half pair is not completed from SKYSYNC_*.
        (
            {"JOBSPEC_USERNAME": "a", "SKYSYNC_PASSWORD": "p"},
            "JOBSPEC_USERNAME is set but JOBSPEC_PASSWORD",
            "",
        ),
        (
            {**USER, "JOBSPEC_TOKEN": "tok"},
            "more than one kind of credentials",
            "unset all but one",
        ),
        (
            {**USER, "JOBSPEC_CLIENT_ID": "c", "JOBSPEC_CLIENT_SECRET": "s"},
            "JOBSPEC_USERNAME/JOBSPEC_PASSWORD and JOBSPEC_CLIENT_ID/JOBSPEC_CLIENT_SECRET",
            "",
        ),
    ],
)
def test_credential_problems(env: dict[str, str], message: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        load({**LOCAL, **env})
    assert message in caught.value.message
    assert hint in (caught.value.hint or "")
    for secret in ("pa55-word", "tok"):
        assert secret not in str(caught.value) + (caught.value.hint or "")


def test_no_server() -> None:
    with pytest.raises(UsageError, match="no DryvIQ server") as caught:
        load(USER)
    assert "JOBSPEC_SERVER" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("server", "insecure", "ok"),
    [
        ("http://localhost:9090", False, True),
        ("http://LOCALHOST:9090", False, True),
        ("http://127.0.0.1:9090", False, True),
        ("http://127.8.9.10/", False, True),
        ("http://[::1]:9090/", False, True),
        ("https://dryviq.example.com", False, True),
        ("http://dryviq.example.com", False, False),
        ("http://10.0.0.5:9090", False, False),
        ("http://localhost.example.com", False, False),
        ("http://dryviq.example.com", True, True),
    ],
)
def test_plain_http_needs_insecure(server: str, insecure: bool, ok: bool) -> None:
    if ok:
        assert load({**USER}, server=server, insecure=insecure).insecure is insecure
    else:
        with pytest.raises(UsageError, match="refusing to send credentials over plain http"):
            load({**USER}, server=server, insecure=insecure)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("http://localhost:9090", "http://localhost:9090/"),
        ("https://host.example/dryviq", "https://host.example/dryviq/"),
        ("  https://host.example/  ", "https://host.example/"),
    ],
)
def test_normalize_server(raw: str, normal: str) -> None:
    assert normalize_server(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "localhost:9090",
        "dryviq.example.com",
        "ftp://host.example/",
        "https://",
        "https://host.example:notaport/",
        "https://host.example/?x=1",
        "https://host.example/v1/",
    ],
)
def test_malformed_server(raw: str) -> None:
    with pytest.raises(UsageError, match="server address"):
        load(USER, server=raw)


def test_credentials_in_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(UsageError) as caught:
        load(USER, server="https://admin:hunter2@host.example/")
    assert "hunter2" not in str(caught.value)
    assert "contains credentials" in caught.value.message


def test_toml_values_and_defaults(tmp_path: Path) -> None:
    plain = load({**LOCAL, **USER})
    assert (plain.state_path, plain.specs_dir) == (Path("jobspec.state.json"), Path("specs"))
    assert (plain.concurrency, plain.timeout, plain.insecure) == (8, 60.0, False)

    toml = 'server = "https://h.example"\nstate = "st/state.json"\nspecs = "jobs"\n'
    toml += "concurrency = 16\ntimeout = 5\n"
    settings = load(USER, toml, tmp_path)
    assert settings.state_path == tmp_path / "st/state.json"
    assert settings.specs_dir == tmp_path / "jobs"
    assert (settings.concurrency, settings.timeout) == (16, 5.0)
    assert settings.origins["server"].endswith("jobspec.toml")
    assert load(USER, toml, tmp_path, concurrency=3).concurrency == 3


def test_toml_in_current_directory_is_read_by_default(tmp_path: Path) -> None:
    (tmp_path / "jobspec.toml").write_text('server = "https://cwd.example"\n')
    assert load(USER).server == "https://cwd.example/"


def test_explicit_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_settings(env={**LOCAL, **USER}, config_path=tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("toml", "message", "hint"),
    [
        ('password = "pa55-word"', "`password` does not belong", "JOBSPEC_PASSWORD"),
        ('client_secret = "s"', "`client_secret` does not belong", "JOBSPEC_CLIENT_SECRET"),
        ('token = "t"', "`token` does not belong", "JOBSPEC_TOKEN"),
        ('username = "admin"', "`username` does not belong", "JOBSPEC_USERNAME"),
        ('sever = "https://x"', "unknown key `sever`", "did you mean `server`?"),
        ("concurrence = 4", "unknown key `concurrence`", "did you mean `concurrency`?"),
        ("colour = 4", "unknown key `colour`", "known keys: server"),
        ("server = ", "not valid TOML", ""),
        ("server = 42", "`server` must be a string", ""),
        ("concurrency = 0", "from 1 to 64", ""),
        ("concurrency = 65", "from 1 to 64", ""),
        ("concurrency = true", "`concurrency` must be a number", ""),
        ('concurrency = "8"', "`concurrency` must be a number", ""),
        ("timeout = 0", "positive number", ""),
        ("timeout = inf", "finite", ""),
        ("state = 1", "`state` must be a string", ""),
    ],
)
def test_toml_problems(tmp_path: Path, toml: str, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        load({**LOCAL, **USER}, toml, tmp_path)
    assert message in caught.value.message
    assert hint in (caught.value.hint or "")
    assert "pa55-word" not in str(caught.value)


@pytest.mark.parametrize("concurrency", [0, 65, -1])
def test_concurrency_flag_bounds(concurrency: int) -> None:
    with pytest.raises(UsageError, match="from 1 to 64"):
        load({**LOCAL, **USER}, concurrency=concurrency)


@pytest.mark.parametrize(
    "env",
    [
        USER,
        {"JOBSPEC_CLIENT_ID": "jobspec-ci", "JOBSPEC_CLIENT_SECRET": "pa55-word"},
        {"JOBSPEC_TOKEN": "pa55-word"},
    ],
)
def test_secrets_never_in_repr(env: dict[str, str]) -> None:
    settings = load({**LOCAL, **env})
    for text in (repr(settings), str(settings), repr(settings.credentials), str(settings.origins)):
        assert "pa55-word" not in text
    assert "localhost:9090" in repr(settings)


def test_ignore_unreadable_is_a_list_of_strings_in_the_config(tmp_path: Path) -> None:
    found = load({**LOCAL, **USER}, 'ignore_unreadable = ["system", "Indexer"]\n', tmp_path)
    assert found.ignore_unreadable == ("system", "Indexer")
    assert load({**LOCAL, **USER}, "", tmp_path).ignore_unreadable == ()
    for bad in ('ignore_unreadable = "system"\n', "ignore_unreadable = [1]\n"):
        with pytest.raises(UsageError, match="must be a list of strings"):
            load({**LOCAL, **USER}, bad, tmp_path)


def test_cutover_default_from_toml(tmp_path: Path) -> None:
    from jobspec.model import Cutover

    assert load({**LOCAL, **USER}).cutover is Cutover.immediate
    assert load({**LOCAL, **USER}, 'cutover = "verified"\n', tmp_path).cutover is Cutover.verified
    with pytest.raises(UsageError, match=r"cutover from .*jobspec\.toml must be one of"):
        load({**LOCAL, **USER}, 'cutover = "careful"\n', tmp_path)


def test_keepalive_defaults_below_five_seconds_and_is_configurable(tmp_path: Path) -> None:
    assert 0 < load({**LOCAL, **USER}).keepalive < 5.0
    assert load({**LOCAL, **USER}, "keepalive = 1.5\n", tmp_path).keepalive == 1.5
    from_env = load({**LOCAL, **USER, "JOBSPEC_KEEPALIVE": "0"})
    assert (from_env.keepalive, from_env.origins["keepalive"]) == (0.0, "JOBSPEC_KEEPALIVE")


@pytest.mark.parametrize("value", ["-1", "301", "soon", "nan"])
def test_a_bad_keepalive_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="keepalive from JOBSPEC_KEEPALIVE must be"):
        load({**LOCAL, **USER, "JOBSPEC_KEEPALIVE": value})
