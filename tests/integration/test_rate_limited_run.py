"""A run against upstreams that enforce their documented rate limits: kept within, never
refused."""

from __future__ import annotations

import asyncpg

from app.simulator.app import SimulatorOptions
from app.simulator.model import GroundTruth
from app.simulator.rate_limits import BUDGETS
from tests.integration.jobs import run_job
from tests.support.services import start_simulator

SCALE = 30.0  # the documented limits ×30: Cursor's 20 a minute are 20 every 2 seconds


async def test_every_source_at_the_documented_limits_gets_no_429(db: asyncpg.Pool) -> None:
    sim = start_simulator(GroundTruth(seed=5, users=12), SimulatorOptions(rate_limit_scale=SCALE))
    try:
        limits = {budget: limit * SCALE for budget, (limit, _) in BUDGETS.items()}
        _, outcome = await run_job(
            db,
            sim,
            cursor_requests_per_minute=limits["cursor_admin"],
            cursor_events_requests_per_minute=limits["cursor_events"],
            anthropic_requests_per_minute=limits["anthropic_admin"],
            anthropic_analytics_requests_per_minute=limits["anthropic_analytics"],
            anthropic_compliance_requests_per_minute=limits["anthropic_compliance"],
            upstream_rate_window_seconds=60 / SCALE,
        )
        assert outcome.status == "succeeded", outcome.reason
        assert sim.app.state.sim.rate_limits.limited == {}
        assert all(p.retries == 0 for p in outcome.sources.values())
        assert sum(sim.app.state.request_counts.values()) > 20  # it did pace many requests
    finally:
        sim.server.should_exit = True
