"""Clients ↔ simulator over loopback: exactly the ground truth, over several pages each."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.ingestion.http import RequestStats
from app.orchestration.sources.registry import REGISTRY
from tests.support.services import Clients, Simulator

START, END = date(2026, 8, 1), date(2026, 8, 3)


async def test_cursor_daily_usage_is_the_ground_truth(
    simulator: Simulator, upstreams: Clients
) -> None:
    assert upstreams.cursor is not None
    stats = RequestStats()
    pages = [p async for p in upstreams.cursor.daily_usage(START, END, stats)]
    assert len(pages) >= 3
    fetched = {(row.usage_date, row.email.lower()): row for page in pages for row in page.items}
    expected = simulator.truth.expected_cursor_rows(START, END)
    assert set(fetched) == set(expected)
    for key, row in fetched.items():
        assert (row.totalLinesAdded, row.agentRequests, row.isActive) == (
            expected[key]["totalLinesAdded"],
            expected[key]["agentRequests"],
            expected[key]["isActive"],
        )


async def test_claude_code_records_are_the_ground_truth(
    simulator: Simulator, upstreams: Clients
) -> None:
    assert upstreams.anthropic is not None
    pages = [p async for p in upstreams.anthropic.claude_code_day(START, RequestStats())]
    assert len(pages) >= 3
    records = [r for p in pages for r in p.items]
    expected = simulator.truth.claude_code_records(START)
    assert len(records) == len(expected)
    assert sum(r.core_metrics.num_sessions for r in records) == sum(
        e["core_metrics"]["num_sessions"]
        for e in expected  # type: ignore[index]
    )
    cents = sum(
        m.estimated_cost.amount for r in records for m in r.model_breakdown if m.estimated_cost
    )
    assert cents == sum(
        Decimal(str(m["estimated_cost"]["amount"]))
        for e in expected
        for m in e["model_breakdown"]  # type: ignore[attr-defined]
    )


async def test_usage_and_cost_reports_are_the_ground_truth(
    simulator: Simulator, upstreams: Clients
) -> None:
    assert upstreams.anthropic is not None
    usage_pages = [p async for p in upstreams.anthropic.messages_usage(START, END, RequestStats())]
    cost_pages = [p async for p in upstreams.anthropic.cost_report(START, END, RequestStats())]
    assert len(usage_pages) >= 3 and len(cost_pages) >= 3
    for day in simulator.truth.days(START, END):
        results = [
            r
            for p in usage_pages
            for b in p.items
            if b.starting_at.date() == day
            for r in b.results
        ]
        truth = simulator.truth.usage_rows(day)
        assert sum(r.output_tokens for r in results) == sum(t.output_tokens for t in truth)
        assert len(results) == len(truth)
        cost = [
            r for p in cost_pages for b in p.items if b.starting_at.date() == day for r in b.results
        ]
        assert sum(r.amount for r in cost) / 100 == sum(
            simulator.truth.expected_cost_by_workspace(day).values()
        )
        assert {r.workspace_id for r in results} >= {None}  # the Default Workspace is null


async def test_directory_lists_page_with_after_id(simulator: Simulator, upstreams: Clients) -> None:
    assert upstreams.anthropic is not None
    stats = RequestStats()
    keys = await upstreams.anthropic.api_keys(stats)
    users = await upstreams.anthropic.users(stats)
    workspaces = await upstreams.anthropic.workspaces(stats)
    assert {k.id for k in keys} == {k.id for k in simulator.truth.keys}
    assert len(users) == simulator.truth.users
    assert {w.name for w in workspaces} == {"Claude Code", "Production", "CI Pipelines", "Research"}
    assert stats.requests >= 3 + 3 + 1  # several pages each at page_cap=4


async def test_claude_ai_feeds_are_the_ground_truth(
    simulator: Simulator, upstreams: Clients
) -> None:
    assert upstreams.compliance is not None and upstreams.analytics is not None
    activity_pages = [
        p async for p in upstreams.compliance.compliance_activities(START, END, RequestStats())
    ]
    assert len(activity_pages) >= 3
    activities = [a for p in activity_pages for a in p.items]
    expected = [
        e for day in simulator.truth.days(START, END) for e in simulator.truth.activities(day)
    ]
    assert sorted(a.id for a in activities) == sorted(str(e["id"]) for e in expected)
    assert activities == sorted(activities, key=lambda a: (a.created_at, a.id), reverse=True)
    cost_pages = [p async for p in upstreams.analytics.analytics_cost(START, END, RequestStats())]
    assert len(cost_pages) >= 3
    cost_rows = [r for p in cost_pages for r in p.items]
    expected_cost = simulator.truth.expected_product_rows(START, END)
    assert sum(r.amount for r in cost_rows) / 100 == sum(
        cost for _, _, cost in expected_cost.values()
    )
    assert {r.product for r in cost_rows} == {product for _, _, product in expected_cost}


async def test_wrong_key_fails_fast_naming_the_setting(simulator: Simulator) -> None:
    from app.ingestion.factory import build_http_client

    settings = simulator.settings(cursor_api_key="wrong", anthropic_admin_api_key="also-wrong")
    async with build_http_client(settings) as client:
        clients = Clients.of(REGISTRY.build_clients(settings, client))
        assert clients.cursor is not None and clients.anthropic is not None
        stats = RequestStats()
        try:
            await clients.cursor.members(stats)
        except Exception as exc:
            assert str(exc) == "cursor rejected CURSOR_API_KEY (HTTP 401: Invalid API key)"
        else:
            raise AssertionError("expected a 401")
        try:
            await clients.anthropic.users(stats)
        except Exception as exc:
            assert str(exc) == (
                "anthropic rejected ANTHROPIC_ADMIN_API_KEY (HTTP 401: invalid x-api-key)"
            )
        else:
            raise AssertionError("expected a 401")
        assert stats.requests == 2 and stats.retries == 0
