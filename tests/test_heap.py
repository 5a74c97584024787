"""The collector set after start-up (core/heap.py); its effect is measured by `make bench`."""

from __future__ import annotations

import gc

from core.heap import THRESHOLDS, settle_after_start


def test_start_up_objects_are_frozen_and_collections_rarer():
    before = gc.get_threshold()
    try:
        built_at_start = [object() for _ in range(10)], {"kept": []}
        settle_after_start()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] > before[0]
        # Later garbage, cycles included, is still collected.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
        assert built_at_start[1]["kept"] == []
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
