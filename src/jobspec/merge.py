"""The one deep merge of JSON-like mappings, shared by the model and the emulator.

It sits in the bottom layer and imports nothing of jobspec, so that the emulator, which shares
no other code with the client side, may use it too (an import-linter contract allows it).
"""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(
    base: dict[str, Any], patch: dict[str, Any], *, copy_values: bool = False
) -> dict[str, Any]:
    """A new dict: `patch` over `base`, mappings merged key by key, anything else replaced.

    `copy_values` deep-copies what comes from `patch`, so that the result shares nothing with
    it (the emulator keeps the result as a stored job).
    """
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value, copy_values=copy_values)
        else:
            merged[key] = copy.deepcopy(value) if copy_values else value
    return merged
