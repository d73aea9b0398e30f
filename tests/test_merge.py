"""The one deep merge, shared by the model and the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.merge import deep_merge


@pytest.mark.parametrize(
    ("base", "patch", "merged"),
    [
        ({}, {}, {}),
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
        ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),  # anything but two mappings is replaced
        ({"a": 5}, {"a": {"x": 1}}, {"a": {"x": 1}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # lists are replaced, not merged
        ({"a": {"b": {"c": 1}}}, {"a": {"b": {"d": 2}}}, {"a": {"b": {"c": 1, "d": 2}}}),
    ],
)
@pytest.mark.parametrize("copy_values", [False, True])
def test_patch_over_base(
    base: dict[str, Any], patch: dict[str, Any], merged: dict[str, Any], copy_values: bool
) -> None:
    before = repr(base), repr(patch)
    assert deep_merge(base, patch, copy_values=copy_values) == merged
    assert (repr(base), repr(patch)) == before  # neither input changes


def test_copy_values_shares_nothing_with_the_patch() -> None:
    patch: dict[str, Any] = {"list": [1], "new": {"x": [2]}}
    shared = deep_merge({}, patch)
    copied = deep_merge({}, patch, copy_values=True)
    assert shared["list"] is patch["list"]
    assert copied["list"] is not patch["list"] and copied["new"]["x"] is not patch["new"]["x"]
