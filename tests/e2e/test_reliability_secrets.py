"""Fault matrix, secrets row: with known fake keys, the keys and the API token never appear in
logs, run errors, problem bodies, metrics, the OpenAPI document or /docs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.simulator.app import SimulatorOptions
from app.simulator.model import GroundTruth
from tests.e2e.conftest import TOKEN, WINDOW, free_port, wait_for_run
from tests.support.services import BearerUnlessGiven, Simulator, start_simulator

pytestmark = pytest.mark.reliability

KEYS = SimulatorOptions(
    cursor_api_key="crsr_FAKE_cursor_secret_7f3a9c",
    admin_api_key="sk-ant-admin01-FAKE_admin_secret_b41d",
    compliance_api_key="sk-ant-api01-FAKE_compliance_secret_99e2",
    analytics_api_key="sk-ant-FAKE_analytics_secret_c0de",
)
SECRETS = (
    KEYS.cursor_api_key,
    KEYS.admin_api_key,
    KEYS.compliance_api_key,
    KEYS.analytics_api_key,
    TOKEN,
)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """Overrides the e2e simulator: these fake keys, which the services are configured with."""
    simulator = start_simulator(GroundTruth(seed=3, users=10), KEYS)
    yield simulator
    simulator.server.should_exit = True


async def test_secrets_never_leak(services: Any, sim: Simulator, e2e_database: str) -> None:
    metrics_port = free_port()
    service = services(
        METRICS_PORT=str(metrics_port),
        CLAUDE_AI_ACTIVITY_ENABLED="true",
        ANTHROPIC_COMPLIANCE_API_KEY=KEYS.compliance_api_key,
        ANTHROPIC_ANALYTICS_API_KEY=KEYS.analytics_api_key,
        LOG_LEVEL="DEBUG",
        UPSTREAM_MAX_ATTEMPTS="2",
    )
    # An upstream that echoes the key back in its error, and one that fails on every request.
    sim.fault(
        "daily-usage-data",
        kind="status",
        status=403,
        times=None,
        message=f"key {KEYS.cursor_api_key} is not allowed",
    )
    sim.fault(
        "cost_report",
        kind="status",
        status=503,
        times=None,
        message=f"overloaded for {KEYS.admin_api_key}",
    )
    seen: list[str] = []
    async with httpx.AsyncClient(
        auth=BearerUnlessGiven(TOKEN), base_url=service.url, timeout=30
    ) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        response = await client.post("/runs", json=WINDOW, headers=auth)
        run = await wait_for_run(client, response.headers["location"])
        assert run["status"] == "partial"
        seen.append(str(run))
        for bad in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {TOKEN}x"}):
            seen.append((await client.post("/runs", json=WINDOW, headers=bad)).text)
        seen.append((await client.post("/runs", json={"sources": ["nope"]}, headers=auth)).text)
        seen.append((await client.post("/runs", content=b"{oops", headers=auth)).text)
        for path in (
            "/metrics",
            "/openapi.json",
            "/docs",
            "/runs",
            "/readyz",
            f"/runs/{run['id']}",
        ):
            seen.append((await client.get(path)).text)
    # /metrics on its own port, without a token, for Prometheus behind the NetworkPolicy.
    async with httpx.AsyncClient(timeout=10) as bare:
        own = await bare.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert own.status_code == 200 and "ingestion_runs_total" in own.text
    seen.append(own.text)
    await asyncio.sleep(0.2)
    connection = await asyncpg.connect(e2e_database)
    try:
        rows = await connection.fetch(
            "SELECT r.status_reason, s.last_error FROM ingestion_runs r"
            " LEFT JOIN ingestion_run_sources s ON s.run_id = r.id"
        )
    finally:
        await connection.close()
    seen.extend(str(value) for row in rows for value in row.values())
    errors = {p["source"]: p["error"] for p in run["progress"]}
    assert errors["cursor"] == "cursor rejected CURSOR_API_KEY (HTTP 403: key *** is not allowed)"
    assert "HTTP 503: overloaded for ***" in errors["claude_cost"]
    service.process.terminate()
    service.process.wait(timeout=30)
    seen.append(service.logs())
    for text in seen:
        for secret in SECRETS:
            assert secret not in text, f"{secret[:12]}… leaked into: {text[:300]}"
