"""The collector pause restores the collector as it found it, even when the block raises."""

from __future__ import annotations

import gc

import pytest

from jobspec.collector import paused


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_inside_and_restored_after(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError), paused():
            assert not gc.isenabled()
            raise RuntimeError("a failing phase")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
