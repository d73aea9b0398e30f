"""Hostile request bodies: the emulator answers 400 and stays healthy.

A lone surrogate (`"\\ud800"`) used to be stored by a clone, answered with 500, and then fail
every list until reset; JSON nested deeper than the parser's recursion limit was a 500 with a
RecursionError in the log. Both are refused at the door now, over the real socket.
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import make_job

SURROGATE_NAME = b'{"name": "Fin\\ud800ance"}'
DEEP = b'{"name": "x", "description": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
DEEPISH = b'{"name": "x", "transfer": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}"
NOT_UTF8 = b'{"name": "Fin\xffance"}'


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (SURROGATE_NAME, "invalid Unicode"),
        (DEEP, "nested deeper than 64 levels"),
        (DEEPISH, "nested deeper than 64 levels"),
        (NOT_UTF8, "not valid JSON"),
    ],
    ids=["lone-surrogate", "deep-100000", "deep-101", "not-utf8"],
)
@pytest.mark.parametrize("route", ["clone", "create", "patch"])
def test_bad_bodies_are_400_and_the_emulator_stays_healthy(
    api: httpx.Client, body: bytes, says: str, route: str
) -> None:
    source = api.post("/v1/jobs", json=make_job(name="Source")).json()["job"]["id"]
    method, path = {
        "clone": ("POST", f"/v1/jobs/{source}/clone"),
        "create": ("POST", "/v1/jobs"),
        "patch": ("PATCH", f"/v1/jobs/{source}"),
    }[route]
    reply = api.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert says in reply.text
    listing = api.get("/v1/jobs", params={"limit": 1000})
    assert listing.status_code == 200
    assert [job["name"] for job in listing.json()["jobs"]] == ["Source"]
    assert api.get(f"/v1/jobs/{source}").json()["job"]["name"] == "Source"
