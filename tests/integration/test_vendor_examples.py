"""The vendors' own example responses (tests/fixtures/README.md says where each comes from),
served as the upstream at its real address (respx) and read by the real clients and sources into
the real tables: every number of each example lands, exactly, where it belongs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import respx

from app.config import load_settings
from app.orchestration.daily_job import RunOutcome
from app.orchestration.run_request import PlannedRun
from tests.support.runs import execute_plan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ANTHROPIC = "https://api.anthropic.com/v1/organizations"
CURSOR = "https://api.cursor.com"
EMPTY_LIST = {"data": [], "has_more": False, "first_id": None, "last_id": None}
LAST_PAGE = {"data": [], "has_more": False, "next_page": None}


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def _paged(first: dict[str, Any]) -> Any:
    """The published page; its `next_page` then leads to a last, empty page."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=LAST_PAGE if "page" in request.url.params else first)

    return answer


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        for listed in ("api_keys", "users", "workspaces"):
            router.get(f"{ANTHROPIC}/{listed}").mock(
                return_value=httpx.Response(200, json=EMPTY_LIST)
            )
        yield router


async def _run(
    pool: asyncpg.Pool, database_dsn: str, day: date, sources: list[str], **keys: str
) -> RunOutcome:
    settings = load_settings(
        _env_file=None, database_url=database_dsn, cursor_api_key="key_vendor_fixture_0001",
        anthropic_admin_api_key="sk-ant-admin01-vendor-fixture", scheduler_enabled=False,
        upstream_max_attempts=1, **keys,
    )  # fmt: skip
    _, outcome = await execute_plan(pool, settings, PlannedRun(day, day, tuple(sources)))
    return outcome


async def test_anthropics_usage_and_cost_examples_land_to_the_cent(
    db: asyncpg.Pool, database_dsn: str, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{ANTHROPIC}/usage_report/messages").mock(
        side_effect=_paged(_example("anthropic/usage_report_messages.json"))
    )
    upstream.get(f"{ANTHROPIC}/cost_report").mock(
        side_effect=_paged(_example("anthropic/cost_report.json"))
    )
    outcome = await _run(db, database_dsn, date(2025, 8, 1), ["claude_usage", "claude_cost"])
    assert outcome.status == "succeeded", outcome.reason
    async with db.acquire() as connection:
        [row] = await connection.fetch(
            "SELECT * FROM fact_claude_daily_usage WHERE source = 'usage_report'"
        )
        lines = await connection.fetchval("SELECT sum(amount_usd) FROM claude_cost_lines")
    assert (row["usage_date"], row["platform"]) == (date(2025, 8, 1), "claude_api")
    assert (row["api_key_id"], row["workspace_id"], row["model"]) == (
        "apikey_01Rj2N8SVvo6BePZj99NhmiT", "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "claude-sonnet-4-20250514",
    )  # fmt: skip
    assert (row["context_window"], row["service_tier"]) == ("0-200k", "standard")
    assert (row["uncached_input_tokens"], row["cache_read_input_tokens"], row["output_tokens"]) == (
        1500, 200, 500,
    )  # fmt: skip
    assert (row["cache_creation_5m_input_tokens"], row["cache_creation_1h_input_tokens"]) == (
        500, 1000,
    )  # fmt: skip
    assert row["cache_creation_input_tokens"] == 1500 and row["web_search_requests"] == 10
    # "123.78912" cents, the one cost line, allocated whole to the one matching usage row.
    assert lines == Decimal("1.2378912")
    assert (row["cost_usd"], row["cost_kind"]) == (Decimal("1.2378912"), "allocated")


async def test_anthropics_claude_code_example_lands_whole(
    db: asyncpg.Pool, database_dsn: str, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{ANTHROPIC}/usage_report/claude_code").mock(
        side_effect=_paged(_example("anthropic/usage_report_claude_code.json"))
    )
    outcome = await _run(db, database_dsn, date(2025, 8, 8), ["claude_code"])
    assert outcome.status == "succeeded", outcome.reason
    async with db.acquire() as connection:
        [view] = await connection.fetch(
            "SELECT * FROM claude_usage_by_user_day WHERE usage_date = '2025-08-08'"
        )
        rows = await connection.fetch(
            "SELECT model, uncached_input_tokens, output_tokens, cache_read_input_tokens,"
            " cache_creation_input_tokens, cost_usd, cost_kind FROM fact_claude_daily_usage"
            " WHERE model IS NOT NULL ORDER BY model"
        )
    assert (view["user_email"], view["platform"]) == ("user@emaildomain.com", "claude_code")
    assert (view["sessions"], view["lines_added"], view["lines_removed"]) == (15, 342, 128)
    assert (view["commits"], view["pull_requests"]) == (8, 2)
    assert (view["tool_accepted"], view["tool_rejected"]) == (25 + 12 + 5 + 8, 3 + 1 + 2 + 0)
    assert view["estimated_cost_usd"] == Decimal("2.28")  # 186 + 42 cents, an estimate
    assert [tuple(r) for r in rows] == [
        ("claude-3-5-haiku-20241022", 23100, 5680, 3420, 890, Decimal("0.42"), "estimated"),
        ("claude-sonnet-4-20250514", 45230, 12450, 8790, 2340, Decimal("1.86"), "estimated"),
    ]


async def test_cursors_daily_usage_example_lands_with_its_inactive_member(
    db: asyncpg.Pool, database_dsn: str, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{CURSOR}/teams/daily-usage-data").mock(
        return_value=httpx.Response(200, json=_example("cursor/daily_usage_data_official.json"))
    )
    outcome = await _run(db, database_dsn, date(2024, 3, 18), ["cursor"])
    assert outcome.status == "succeeded", outcome.reason
    # 150 members said, two listed, in every reading: accepted, and said.
    assert any("150" in warning for warning in outcome.sources["cursor"].warnings)
    async with db.acquire() as connection:
        rows = {
            r["email"]: r for r in await connection.fetch("SELECT * FROM fact_cursor_daily_usage")
        }
    active, inactive = rows["developer@company.com"], rows["inactive-user@company.com"]
    assert (active["usage_date"], active["is_active"]) == (date(2024, 3, 18), True)
    assert (active["total_lines_added"], active["accepted_lines_added"]) == (1543, 1102)
    assert (active["total_tabs_shown"], active["total_tabs_accepted"]) == (342, 289)
    assert (active["usage_based_reqs"], active["bugbot_usages"]) == (5, 3)
    assert (active["most_used_model"], active["client_version"]) == ("gpt-5", "0.25.1")
    assert inactive["is_active"] is False and inactive["total_lines_added"] == 0


async def test_the_enterprise_analytics_example_lands_with_no_remainder(
    db: asyncpg.Pool, database_dsn: str, upstream: respx.MockRouter
) -> None:
    """The article's per-user row; the organisation's report served as the same totals, so
    the day's remainder is nothing and no remainder row is written."""
    example = _example("anthropic/analytics_user_usage_report.json")
    [person] = example["data"]
    organisation = {
        "data": [{"starting_at": "2026-08-03T00:00:00Z", "ending_at": "2026-08-04T00:00:00Z",
                  "results": [{key: person[key] for key in (
                      "product", "uncached_input_tokens", "cache_creation",
                      "cache_read_input_tokens", "output_tokens", "server_tool_use", "requests")}]}],
        "has_more": False, "next_page": None,
    }  # fmt: skip
    no_cost = {"data": [], "has_more": False, "next_page": None}
    routes = {
        "analytics/user_usage_report": example, "analytics/user_cost_report": no_cost,
        "analytics/usage_report": organisation, "analytics/cost_report": no_cost,
    }  # fmt: skip
    for path, body in routes.items():
        upstream.get(f"{ANTHROPIC}/{path}").mock(return_value=httpx.Response(200, json=body))
    settings_key = {"anthropic_analytics_api_key": "sk-ant-analytics-vendor-fixture"}
    outcome = await _run(db, database_dsn, date(2026, 8, 3), ["claude_ai"], **settings_key)
    assert outcome.status == "succeeded", outcome.reason
    async with db.acquire() as connection:
        [row] = await connection.fetch("SELECT * FROM fact_claude_daily_usage")
    assert (row["user_email"], row["product"], row["platform"]) == (
        "jane@example.com", "chat", "claude_ai")  # fmt: skip
    assert (row["uncached_input_tokens"], row["cache_read_input_tokens"]) == (1284500, 3200000)
    assert (row["cache_creation_5m_input_tokens"], row["cache_creation_1h_input_tokens"]) == (
        500, 1000)  # fmt: skip
    assert (row["output_tokens"], row["web_search_requests"], row["requests"]) == (891000, 10, 128)
    assert row["attribution_method"] == "direct_email"
