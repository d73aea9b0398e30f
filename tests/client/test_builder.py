"""`Builder` makes the same request `httpx.AsyncClient.build_request` makes (URL, headers,
body, timeout), for the shapes the client sends and for hostile query values."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, strategies as st

from jobspec.client._transport import Builder, http_client

BASE = "https://dryviq.example/v1/jobs"


def _pair() -> tuple[httpx.AsyncClient, Builder]:
    client = http_client(
        transport=None, timeout=httpx.Timeout(30.0, connect=10.0), connections=1, keepalive=4.0
    )
    return client, Builder(client)


def _same(a: httpx.Request, b: httpx.Request) -> None:
    assert (a.method, str(a.url), a.read()) == (b.method, str(b.url), b.read())
    assert a.headers.multi_items() == b.headers.multi_items()
    assert a.extensions == b.extensions


@pytest.mark.parametrize(
    ("method", "params", "json", "form"),
    [
        ("GET", {"fields": "all"}, None, None),
        ("GET", {"offset": "0", "limit": "1000", "sort": "id ASC", "q": "Fin & Co/é+"}, None, None),
        ("POST", None, {"name": "Finance ✓", "schedule": {"mode": "manual"}}, None),
        ("PATCH", {"start": "1"}, None, None),
        ("POST", None, None, {"grant_type": "password", "password": "S3cret+pass/word"}),
        ("DELETE", None, None, None),
    ],
)
def test_the_builder_matches_build_request(
    method: str, params: dict[str, str] | None, json: object, form: dict[str, str] | None
) -> None:
    client, build = _pair()
    headers = {"Authorization": "Bearer t0ken"}
    expected = client.build_request(
        method, BASE, params=params, json=json, data=form, headers=headers
    )
    _same(build(method, BASE, params=params, json=json, form=form, headers=headers), expected)


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=12), max_size=3))
def test_any_query_is_encoded_as_httpx_encodes_it(params: dict[str, str]) -> None:
    client, build = _pair()
    expected = client.build_request("GET", BASE, params=params)
    assert str(build("GET", BASE, params=params, json=None, form=None, headers={}).url) == str(
        expected.url
    )
