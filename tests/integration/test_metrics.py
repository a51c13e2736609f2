"""GET /metrics after a run: every metric present with its type, values agreeing with the run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.integration.conftest import AUTH, WINDOW, serve, wait_for
from tests.support.metrics import scrape, value
from tests.support.services import Simulator

EXPECTED_TYPES = {
    "ingestion_runs": "counter",
    "ingestion_run_duration_seconds": "histogram",
    "ingestion_rows": "counter",
    "upstream_requests": "counter",
    "upstream_request_duration_seconds": "histogram",
    "upstream_retries": "counter",
    "ingestion_last_success_timestamp_seconds": "gauge",
    "db_pool_connections": "gauge",
    "http_server_requests": "counter",
    "http_server_request_duration_seconds": "histogram",
}


@pytest.fixture(params=[False, True], ids=["in-process-worker", "worker-process"])
async def service(
    request: pytest.FixtureRequest, db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> AsyncIterator[httpx.AsyncClient]:
    """Both worker modes: in a child process, the run's metrics are recorded there and must
    still appear in the API's exposition."""
    settings = simulator.settings(
        database_url=database_dsn,
        worker_poll_seconds=0.2,
        worker_process=request.param,
        metrics_refresh_seconds=1,
    )
    async with serve(settings) as client:
        yield client


async def test_metrics_after_a_run(service: httpx.AsyncClient) -> None:
    api = service
    before = await scrape(api)
    for name, kind in EXPECTED_TYPES.items():
        assert before[name].type == kind, name  # present (pre-initialised) before any run
    assert {s.labels["status"] for s in before["ingestion_runs"].samples} >= {
        "succeeded",
        "partial",
        "failed",
        "crashed",
    }

    location = (await api.post("/runs", json=WINDOW, headers=AUTH)).headers["location"]
    run = await wait_for(api, location)
    assert run["status"] == "succeeded"
    await api.get("/runs/not-a-uuid")
    await asyncio.sleep(1.5)  # the gauges a scrape shows are refreshed every second here
    after = await scrape(api)

    def delta(name: str, sample: str, **labels: str) -> float:
        return value(after, name, sample, **labels) - value(before, name, sample, **labels)

    assert delta("ingestion_runs", "ingestion_runs_total", trigger="api", status="succeeded") == 1
    assert delta("ingestion_run_duration_seconds", "ingestion_run_duration_seconds_count") == 1
    tables = {"cursor": "fact_cursor_daily_usage", "cursor_spend": "fact_cursor_daily_usage"}
    for operation in ("inserted", "updated", "unchanged", "deleted"):
        for table in ("fact_cursor_daily_usage", "fact_claude_daily_usage"):
            reported = sum(
                p[f"rows_{operation}"]
                for p in run["progress"]
                if tables.get(p["source"], "fact_claude_daily_usage") == table
            )
            assert (
                delta("ingestion_rows", "ingestion_rows_total", table=table, operation=operation)
                == reported
            )
    requests = sum(p["pages"] for p in run["progress"])
    assert delta("upstream_requests", "upstream_requests_total", status_class="2xx") >= requests
    assert (
        delta(
            "upstream_request_duration_seconds",
            "upstream_request_duration_seconds_count",
            upstream="cursor",
        )
        >= 1
    )
    for source in (
        "cursor",
        "cursor_spend",
        "claude_code",
        "claude_usage",
        "claude_cost",
        "claude_ai",
    ):
        assert (
            value(
                after,
                "ingestion_last_success_timestamp_seconds",
                "ingestion_last_success_timestamp_seconds",
                source=source,
            )
            > 0
        )
    assert value(after, "db_pool_connections", "db_pool_connections", state="max") == 10
    # What a source measured, e.g. the Cursor spend reconciliation (refreshed on a timer).
    measured = next(p["details"] for p in run["progress"] if p["source"] == "cursor_spend")
    assert value(
        after, "ingestion_source_measure", "ingestion_source_measure",
        source="cursor_spend", measure="reconciliation_largest_difference_usd",
    ) == float(measured["reconciliation"]["largest_difference_usd"])  # fmt: skip
    # HTTP labels are route templates, never ids.
    routes = {s.labels["route"] for s in after["http_server_requests"].samples}
    assert "/runs/{run_id}" in routes and not any(run["id"] in r for r in routes)
    assert (
        delta(
            "http_server_requests",
            "http_server_requests_total",
            method="GET",
            route="/runs/{run_id}",
            status_class="4xx",
        )
        == 1
    )


async def test_a_scrape_does_not_query_the_database(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    """Gauges from the ledger are refreshed every METRICS_REFRESH_SECONDS, not per scrape:
    with the refresh an hour away (and the worker idle), twenty scrapes leave every connection
    of the service as it was — none ran a statement. (Live activity, not the cumulative
    counters: an idle backend reports its last transactions up to ten seconds late.)"""
    settings = simulator.settings(
        database_url=database_dsn, metrics_refresh_seconds=3600, worker_poll_seconds=300
    )
    async with serve(settings) as api:
        run = await wait_for(
            api, (await api.post("/runs", json=WINDOW, headers=AUTH)).headers["location"]
        )
        assert run["status"] == "succeeded"
        # The worker that ended the run looks once more for parts, then idles for 300 s.
        await asyncio.sleep(1.0)
        async with db.acquire() as connection:
            service = (
                "SELECT pid, state_change, query FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'ai-usage-pipeline'"
            )
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            before = {tuple(row) for row in await connection.fetch(service)}
            for _ in range(20):
                await scrape(api)
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            after = {tuple(row) for row in await connection.fetch(service)}
        assert before  # the service's pool is there to be watched
        assert after == before  # a statement (or a pooled connection taken) would show'
