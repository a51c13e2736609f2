"""Documented rate limits: the simulator enforces them, the client keeps within them."""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi.testclient import TestClient

from app.ingestion.rate_limit import RateLimiter
from app.simulator.app import SimulatorOptions, create_simulator
from app.simulator.model import GroundTruth
from app.simulator.rate_limits import BUDGETS, RateLimits, budget_of


def test_every_budget_is_the_documented_limit() -> None:
    assert {budget: limit for budget, (limit, _) in BUDGETS.items()} == {
        "cursor_admin": 20,
        "cursor_events": 60,
        "anthropic_admin": 100,
        "anthropic_analytics": 60,
        "anthropic_compliance": 600,
    }
    assert budget_of("teams/spend") == budget_of("daily-usage-data") == "cursor_admin"
    assert budget_of("usage_report/messages") == budget_of("users") == "anthropic_admin"


def test_a_budget_serves_one_minute_at_once_then_says_when_the_next_request_may_come() -> None:
    limits = RateLimits(scale=60.0)  # Cursor admin: 20 a second
    served = [limits.check("daily-usage-data") for _ in range(20)]
    assert served == [None] * 20
    wait = limits.check("daily-usage-data")
    assert wait is not None and 0 < wait <= 1 / 20
    assert limits.check("filtered-usage-events") is None  # its own budget
    assert limits.limited == {"cursor_admin": 1}
    assert RateLimits(scale=None).check("daily-usage-data") is None


def test_the_simulator_answers_429_with_retry_after_in_each_upstream_envelope() -> None:
    options = SimulatorOptions(rate_limit_scale=0.001)  # refills in hours: the 21st waits
    app = create_simulator(GroundTruth(seed=3, users=5), options)
    with TestClient(app) as client:
        auth = httpx.BasicAuth(options.cursor_api_key, "")
        body = {"startDate": 1785542400000, "endDate": 1785628799999}
        answers = [client.post("/teams/daily-usage-data", json=body, auth=auth) for _ in range(21)]
        assert [a.status_code for a in answers[:20]] == [200] * 20
        limited = answers[20]
        assert limited.status_code == 429
        assert limited.json()["message"] == "Rate limit exceeded. Please try again later."
        assert float(limited.headers["retry-after"]) > 60
        headers = {"x-api-key": options.admin_api_key, "anthropic-version": "2023-06-01"}
        for _ in range(100):
            assert client.get("/v1/organizations/users", headers=headers).status_code == 200
        refused = client.get("/v1/organizations/users", headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert client.get("/_sim/faults").json()["rate_limited"] == {
            "cursor_admin": 1,
            "anthropic_admin": 1,
        }


async def test_the_client_never_sends_more_than_the_limit_in_any_window() -> None:
    """5 a window of 0.3 s: whatever the callers do, no 0.3 s holds a sixth request — and a
    request that waited is sent as soon as the window allows (the budget is used)."""
    limiter = RateLimiter(per_minute=5 * 200, window_seconds=0.3)
    sent: list[float] = []

    async def one(delay: float) -> None:
        await asyncio.sleep(delay)
        async with limiter:
            sent.append(time.monotonic())

    await asyncio.gather(*(one(0.02 * (n % 4)) for n in range(17)))
    sent.sort()
    for at, moment in enumerate(sent):
        within = [t for t in sent[at:] if t < moment + 0.3 - 1e-3]
        assert len(within) <= 5, (at, within)
    assert sent[-1] - sent[0] < 0.3 * 3 + 0.15  # 17 requests: three full windows, then two


def test_a_fractional_limit_widens_the_window() -> None:
    limiter = RateLimiter(per_minute=0.5)
    assert (limiter._limit, limiter._window) == (1, 120.0)
    assert RateLimiter(per_minute=20 * 5, window_seconds=12)._limit == 20
