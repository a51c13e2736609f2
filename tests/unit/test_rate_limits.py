"""Documented rate limits: the simulator enforces them, the client paces within them."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from app.ingestion.http import paced_limiter
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


@pytest.mark.parametrize("per_minute", [600.0, 1200.0])
async def test_the_client_paces_requests_and_never_bursts(per_minute: float) -> None:
    """A minute's budget at once would break a limit counted per calendar minute: requests
    leave one every 60/N seconds from the first."""
    limiter = paced_limiter(per_minute)
    sent: list[float] = []

    async def one() -> None:
        async with limiter:
            sent.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(6)))
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    spacing = 60 / per_minute
    assert all(gap >= spacing * 0.9 for gap in gaps), gaps
    assert sent[-1] - sent[0] < spacing * 5 * 1.5 + 0.05  # and still at the rate
