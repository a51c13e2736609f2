"""Bounded concurrency: at most N at once, every item done, the first failure as it is."""

from __future__ import annotations

import asyncio

import pytest

from app.orchestration.concurrency import each_at_most


async def test_every_item_runs_and_never_more_than_the_limit_at_once() -> None:
    active, peak, done = 0, 0, []

    async def work(item: int) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01 * (item % 3))
        active -= 1
        done.append(item)

    await each_at_most(3, range(10), work)
    assert sorted(done) == list(range(10)) and peak == 3


async def test_the_first_failure_is_raised_unwrapped_and_the_rest_cancelled() -> None:
    cancelled = []

    async def work(item: int) -> None:
        if item == 1:
            raise ValueError("upstream said no")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise

    with pytest.raises(ValueError, match="upstream said no"):
        await each_at_most(3, range(5), work)
    assert sorted(cancelled) == [0, 2]  # the ones running; 3 and 4 never started
