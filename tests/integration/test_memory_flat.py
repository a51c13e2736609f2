"""Streaming keeps one page per endpoint in memory: 30 days × 10,000 simulated people (for
Cursor usage events, about 650,000 events: one chain a day).

The simulator runs in its own process so that only the client side is traced. The peak while
streaming a whole window must stay close to the peak of fetching its first page alone; a
client that accumulated pages would grow with the window (here 18 and 33 pages).
"""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from app.config import load_settings
from app.ingestion.factory import build_http_client
from app.ingestion.http import RequestStats
from app.orchestration.sources.registry import REGISTRY
from tests.support.services import Clients

START, END = date(2026, 8, 1), date(2026, 8, 30)


@pytest.fixture(scope="module")
def big_simulator() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "simulate", "--users", "10000", "--port", str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/_sim/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def clients(big_simulator: str) -> AsyncIterator[Clients]:
    settings = load_settings(
        cursor_api_key="sim-cursor-key",
        anthropic_admin_api_key="sk-ant-admin01-sim",
        cursor_api_base_url=big_simulator,
        anthropic_api_base_url=big_simulator,
        cursor_requests_per_minute=600_000,
        cursor_events_requests_per_minute=600_000,
        anthropic_requests_per_minute=600_000,
        upstream_timeout_seconds=300,
    )
    async with build_http_client(settings) as client:
        yield Clients.of(REGISTRY.build_clients(settings, client))


async def _peak(
    pages: AsyncIterator[Any], count: Callable[[Any], int], limit: int | None = None
) -> tuple[int, int, int, int]:
    """(peak over the stream, the largest peak of a single page, rows, pages) — traced while
    streaming at most `limit` pages.

    Under CPython's default collector thresholds: the service raises them (app.gc_tuning), so
    the small reference cycles each request leaves (httpx request objects) wait for larger
    batches, which moves the peak by an amount unrelated to what this measures — whether the
    client holds pages."""
    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    gc.collect()
    tracemalloc.start()
    try:
        rows = n = largest = 0
        async for page in pages:
            rows += count(page)
            n += 1
            del page
            largest = max(largest, tracemalloc.get_traced_memory()[1])
            if n == limit:
                break
            tracemalloc.reset_peak()  # the next page's own peak
        return max(largest, tracemalloc.get_traced_memory()[1]), largest, rows, n
    finally:
        tracemalloc.stop()
        gc.set_threshold(*thresholds)


async def _events(cursor: Any) -> AsyncIterator[Any]:
    """30 days of usage events, one chain a day, as the spend source reads them."""
    for offset in range((END - START).days + 1):
        async for page in cursor.usage_events(START + timedelta(days=offset), RequestStats()):
            yield page
            del page


@pytest.mark.parametrize("endpoint", ["cursor", "messages", "events"])
async def test_a_30_day_window_never_holds_more_than_one_page(
    clients: Clients, endpoint: str
) -> None:
    assert clients.cursor is not None and clients.anthropic is not None
    cursor, anthropic = clients.cursor, clients.anthropic

    def stream() -> AsyncIterator[Any]:
        if endpoint == "cursor":
            return cursor.daily_usage(START, END, RequestStats())
        if endpoint == "events":
            return _events(cursor)
        return anthropic.messages_usage(START, END, RequestStats())

    def count(page: Any) -> int:
        if endpoint in ("cursor", "events"):
            return len(page.items)
        return sum(len(b.results) for b in page.items)

    # "One page": the largest single page among the first few (pages differ a little in size).
    _, one_page, first_rows, first_pages = await _peak(stream(), count, limit=3)
    whole, _, rows, pages = await _peak(stream(), count)
    assert pages >= 10 and rows >= 10 * first_rows / first_pages / 2  # really many pages
    assert whole < 1.5 * one_page, (whole, one_page, pages)
