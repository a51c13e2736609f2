"""The collector settings every service process applies before it ingests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.gc_tuning import OLDER_THRESHOLDS, YOUNG_THRESHOLD, tune_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_young_collections_wait_for_many_more_allocations() -> None:
    tune_garbage_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    assert YOUNG_THRESHOLD > 700 * 10  # an order of magnitude past CPython's default


@pytest.mark.usefixtures("restored_collector")
def test_what_exists_at_start_up_is_kept_out_of_full_collections() -> None:
    gc.unfreeze()
    tune_garbage_collector()
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # this interpreter's modules, classes, fixtures …
    gc.collect()
    assert gc.get_freeze_count() == frozen  # … which full collections no longer rescan


@pytest.mark.usefixtures("restored_collector")
def test_cycles_are_still_collected() -> None:
    tune_garbage_collector()

    class Node:
        other: object

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
