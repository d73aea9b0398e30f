"""Issue 23, case 10: a secret the server echoes into job fields, in any of its encodings,
never reaches a file jobspec writes (generate's specs, the state `import` writes) or its output.

The server is `test_secrets`'s emulator with its own long password; the job's description and
name carry that password raw, HTML-escaped, base64-encoded, upper-cased and
double-percent-encoded, as a server quoting a request might.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from urllib.parse import quote

import httpx

from jobspec.emulator.server import RunningEmulator
from tests.helpers import EmulatorHandle, make_job
from tests.reliability.campaign import TrialWorkspace
from tests.reliability.test_secrets import (
    PASSWORD,
    USERNAME,
    run,
    secret_server as secret_server,  # the fixture
)

FORMS = {
    "raw": PASSWORD,
    "html": html.escape(PASSWORD + "&<>"),
    "base64": base64.b64encode(PASSWORD.encode()).decode(),
    "basic": base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode(),
    "upper": PASSWORD.upper(),
    "lower": PASSWORD.lower(),
    "double-percent": quote(quote(PASSWORD, safe=""), safe=""),
}
ENDPOINTS = {
    "transfer": {
        "source": {"target": {"path": "/Echo"}},
        "destination": {"target": {"path": "/Sites/Echo"}},
    },
    "schedule": {"mode": "manual"},
}


def test_a_secret_echoed_into_job_fields_in_any_encoding_never_reaches_a_written_file(
    secret_server: RunningEmulator, tmp_path: Path
) -> None:
    with httpx.Client() as http:
        emulator = EmulatorHandle(secret_server.url, http)
        emulator.reset()
        ws = TrialWorkspace(root=tmp_path, emulator=emulator)
        echoed = " | ".join(FORMS.values())
        (source,) = emulator.seed([make_job(name="Echo source", **ENDPOINTS)])
        (job,) = emulator.seed(
            [make_job(name=f"Echo {FORMS['base64']}", description=echoed, **ENDPOINTS)]
        )
        env = {"JOBSPEC_USERNAME": USERNAME, "JOBSPEC_PASSWORD": PASSWORD}
        code, generated = run(ws, "generate", job, "--out", "generated.yaml", env=env)
        assert code == 0, generated
        ws.sources["echo"] = source
        ws.add_spec("echo", original="keep", description="clean", schedule={"mode": "manual"})
        code, imported = run(ws, "import", "echo", job, env=env)
        assert code == 0, imported
        code, listed = run(ws, "state", "show", "echo", env=env)

    files = {
        path.name: path.read_text(encoding="utf-8", errors="replace")
        for path in tmp_path.rglob("*")
        if path.is_file()
    }
    assert {"generated.yaml", "jobspec.state.json"} <= files.keys()
    for name, form in FORMS.items():
        for where, text in [*files.items(), ("output", generated + imported + listed)]:
            assert form not in text, f"the {name} form of the password in {where}"


def test_every_form_of_a_long_secret_is_masked_and_short_ones_stay_exact() -> None:
    from jobspec.scrub import Scrubber

    scrub = Scrubber([PASSWORD])
    for name, form in FORMS.items():
        assert form.replace(PASSWORD, "") == form or PASSWORD not in scrub(form), name
        assert form not in scrub(f"said: {form}."), name
    short = Scrubber(["abc1234"])  # under MIN_FOLDED: exact forms only
    assert short("ABC1234 YWJjMTIzNA==") == "ABC1234 YWJjMTIzNA=="
    assert short("abc1234 abc%25312%25334") == "*** ***"
