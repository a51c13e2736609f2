"""Concurrent feeds of one source: a failure is raised as itself and stops the others."""

from __future__ import annotations

import asyncio

import pytest

from app.ingestion.http import UpstreamError
from app.orchestration.daily_job import _together


async def test_results_come_back_in_the_order_given() -> None:
    async def value(delay: float, result: str) -> str:
        await asyncio.sleep(delay)
        return result

    assert await _together(value(0.02, "first"), value(0, "second")) == ["first", "second"]


async def test_first_failure_is_raised_unwrapped_and_cancels_the_rest() -> None:
    other_finished = False

    async def failing() -> None:
        await asyncio.sleep(0)
        raise UpstreamError("analytics said no", upstream="anthropic", endpoint="analytics")

    async def slow() -> None:
        nonlocal other_finished
        await asyncio.sleep(5)
        other_finished = True

    with pytest.raises(UpstreamError, match="analytics said no"):
        await asyncio.wait_for(_together(failing(), slow()), timeout=2)
    assert not other_finished
