"""The answers' HTTP API: what it answers, who may change what, and every bad input a 422 that
names the field (nothing partly imported)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.orchestration.run_request import utc_today
from tests.integration.conftest import AUTH, wait_for

# The service points the logs at this module's captured stderr.
pytestmark = pytest.mark.usefixtures("logs_restored")


async def _run(api: httpx.AsyncClient, start: str, end: str) -> dict[str, object]:
    response = await api.post("/runs", json={"start_date": start, "end_date": end}, headers=AUTH)
    assert response.status_code == 202, response.text
    return await wait_for(api, response.headers["Location"])


async def _alerts_after(api: httpx.AsyncClient, within: float = 10) -> list[dict[str, Any]]:
    """The alerts once there are some: a run is finished before its budgets are evaluated."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        alerts: list[dict[str, Any]] = (await api.get("/alerts")).json()
        if alerts or loop.time() > deadline:
            return alerts
        await asyncio.sleep(0.1)


async def test_budgets_are_evaluated_after_every_run(api: httpx.AsyncClient) -> None:
    saved = await api.put(
        "/budgets", json={"scope": "organization", "monthly_usd": "0.01"}, headers=AUTH
    )
    assert saved.status_code == 200, saved.text
    today = utc_today()
    first = today.replace(day=1)
    if first == today:  # the 1st: this month has no complete day yet
        pytest.skip("no complete day of this month yet")
    run = await _run(api, str(first), str(today - timedelta(days=1)))
    assert run["status"] == "succeeded"
    alerts = await _alerts_after(api)
    # 0.01 USD a month: both thresholds crossed by the first day's spend.
    crossed = {a["payload"]["threshold"]: a for a in alerts if a["kind"] == "budget_threshold"}
    assert set(crossed) == {"0.8", "1"}
    assert {a["payload"]["month"] for a in crossed.values()} == {f"{first:%Y-%m}"}
    assert all(a["deliveries"] == [] for a in alerts)  # no webhook: recorded, nothing to send
    assert len((await api.get("/budgets")).json()) == 1


async def test_spend_digest_seats_adoption_and_forecast_answer(api: httpx.AsyncClient) -> None:
    await _run(api, "2026-08-01", "2026-08-03")
    spend = await api.get(
        "/insights/spend?start=2026-08-01&end=2026-08-03&group_by=tool&group_by=day"
    )
    assert spend.status_code == 200, spend.text
    rows = spend.json()["rows"]
    assert {row["group"]["tool"] for row in rows} == {"cursor", "claude"}
    assert all(isinstance(row["billed_usd"], str) for row in rows)  # exact decimals
    digest = await api.get("/digest?week=2026-W31")
    assert digest.status_code == 200 and digest.json()["week"] == "2026-W31"
    markdown = await api.get("/digest?week=2026-W31&format=markdown")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# AI usage, week 2026-W31 (2026-07-27 – 2026-08-02)")
    for path in ("/insights/seats?as_of=2026-08-03", "/insights/adoption?start=2026-08-01&end=2026-08-03",
                 "/insights/forecast?as_of=2026-08-03&scope=tool&value=cursor&budget=100"):  # fmt: skip
        answer = await api.get(path)
        assert answer.status_code == 200, (path, answer.text)


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("GET", "/insights/spend?group_by=squad", None, "group_by: unknown squad"),
        ("GET", f"/insights/spend?end={utc_today()}", None, "is not a complete UTC day yet"),
        ("GET", "/insights/forecast?scope=galaxy", None, "scope: unknown 'galaxy'"),
        ("GET", "/digest?week=last", None, "week: 'last' is not an ISO week"),
        ("PUT", "/budgets", {"scope": "galaxy", "monthly_usd": 5}, "unknown scope 'galaxy'"),
        ("PUT", "/budgets", {"scope": "team", "scope_value": "a", "monthly_usd": -5},
         "greater than 0"),
        ("PUT", "/budgets", {"scope": "team", "scope_value": "a", "monthly_usd": "lots"},
         "monthly_usd"),
        ("PUT", "/budgets", {"scope": "team", "monthly_usd": 5}, "scope_value: which team"),
        ("PUT", "/budgets", {"scope": "team", "scope_value": "a", "monthly_usd": 5,
                             "thresholds": [0]}, "thresholds are fractions"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_422_naming_the_field(
    api: httpx.AsyncClient, method: str, path: str, body: object, detail: str
) -> None:
    answer = await api.request(method, path, json=body, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.text


async def test_a_bad_teams_csv_imports_nothing(api: httpx.AsyncClient) -> None:
    good = "email,team,effective_from\nana@acme.dev,platform,\n"
    assert (await api.put("/teams", content=good, headers=AUTH)).json() == {"imported": 1}
    bad = "email,team\nbo@acme.dev,data\nnobody,data\n"
    answer = await api.put("/teams", content=bad, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["detail"] == "teams CSV: line 3: invalid email 'nobody'"
    assert (
        await api.get("/teams")
    ).text == "email,team,effective_from,note\nana@acme.dev,platform,,\n"
