"""Bounded concurrency for the work of one source."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def each_at_most(
    limit: int, items: Iterable[T], work: Callable[[T], Awaitable[None]]
) -> None:
    """`work` on every item, at most `limit` at a time, started in order. The first failure
    cancels the rest and is raised as it is (not wrapped in an exception group), so a source
    fails with the upstream's own message."""
    waiting = deque(items)
    running: set[asyncio.Future[None]] = set()
    try:
        while waiting or running:
            while waiting and len(running) < limit:
                running.add(asyncio.ensure_future(work(waiting.popleft())))
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            failures = [task.exception() for task in done if task.exception() is not None]
            if failures:
                raise failures[0]  # type: ignore[misc]
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
