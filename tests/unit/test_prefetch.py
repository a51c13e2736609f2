"""`prefetched`: overlaps fetching with processing, keeps order, bounds pages alive, and
surfaces an upstream error where its page would have been."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.ingestion.pagination import prefetched


async def test_the_next_page_is_fetched_while_this_one_is_processed() -> None:
    fetching: list[int] = []
    alive = 0
    most_alive = 0

    async def pages() -> AsyncIterator[int]:
        nonlocal alive, most_alive
        for number in range(5):
            fetching.append(number)
            await asyncio.sleep(0.01)
            alive += 1
            most_alive = max(most_alive, alive)
            yield number

    seen = []
    async for page in prefetched(pages()):
        await asyncio.sleep(0.02)  # processing: the next fetch runs meanwhile
        assert fetching[-1] == min(page + 1, 4)
        seen.append(page)
        alive -= 1
    assert seen == [0, 1, 2, 3, 4]
    assert most_alive <= 2


async def test_an_upstream_error_surfaces_after_the_pages_before_it() -> None:
    async def pages() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("upstream said no")

    seen = []
    with pytest.raises(RuntimeError, match="upstream said no"):
        async for page in prefetched(pages()):
            seen.append(page)
    assert seen == [1]


async def test_stopping_early_closes_the_source() -> None:
    closed = asyncio.Event()

    async def pages() -> AsyncIterator[int]:
        try:
            for number in range(100):
                yield number
        finally:
            closed.set()

    stream = prefetched(pages())
    async for _ in stream:
        break
    await stream.aclose()
    assert closed.is_set()
