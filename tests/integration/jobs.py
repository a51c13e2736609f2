"""Helpers to run tracked jobs and read the tables back in tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from app.orchestration.daily_job import RunOutcome
from app.orchestration.run_request import PlannedRun, resolve_sources
from app.simulator.model import GroundTruth
from app.simulator.world import Totals
from app.vocabulary import RunTrigger
from tests.support.runs import execute_plan
from tests.support.services import Simulator

START, END = date(2026, 8, 1), date(2026, 8, 3)


async def run_job(
    pool: asyncpg.Pool,
    sim: Simulator,
    start: date = START,
    end: date = END,
    sources: Sequence[str] | None = None,
    **overrides: Any,
) -> tuple[uuid.UUID, RunOutcome]:
    settings = sim.settings(**overrides)
    chosen = resolve_sources(settings, sources)
    return await execute_plan(pool, settings, PlannedRun(start, end, chosen), RunTrigger.CLI)


async def snapshot(pool: asyncpg.Pool, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    key = "(usage_date, email)" if table == "fact_cursor_daily_usage" else "(usage_date, grain_key)"
    async with pool.acquire() as connection:
        rows = await connection.fetch(f"SELECT *, {key} AS k FROM {table}")
    return {tuple(row["k"]): dict(row) for row in rows}


VIEW_FIELDS = (
    "uncached_input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "billed_cost_usd",
    "estimated_cost_usd",
    "sessions",
    "lines_added",
    "lines_removed",
    "commits",
    "pull_requests",
    "tool_accepted",
    "tool_rejected",
)


async def view_totals(pool: asyncpg.Pool) -> dict[tuple[date, str], dict[str, Any]]:
    sums = ", ".join(f"coalesce(sum({f}), 0) AS {f}" for f in VIEW_FIELDS)
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            f"SELECT usage_date, platform, {sums} FROM claude_usage_by_user_day"
            " GROUP BY usage_date, platform"
        )
    return {(r["usage_date"], r["platform"]): {f: r[f] for f in VIEW_FIELDS} for r in rows}


def expected_totals(
    sim: Simulator, start: date = START, end: date = END, *, enterprise_analytics: bool = True
) -> dict[tuple[date, str], dict[str, Any]]:
    """The view's totals per (day, platform); `enterprise_analytics`: the Analytics key is
    configured (its products are in the tables)."""
    return expected_totals_of(sim.truth, start, end, enterprise_analytics=enterprise_analytics)


def expected_totals_of(
    truth: GroundTruth, start: date, end: date, *, enterprise_analytics: bool = True
) -> dict[tuple[date, str], dict[str, Any]]:
    merged: dict[tuple[date, str], Totals] = {
        **truth.expected_platform_totals(start, end, enterprise_analytics=enterprise_analytics),
        **(truth.expected_claude_ai_totals(start, end) if enterprise_analytics else {}),
    }
    return {
        key: {f: Decimal(getattr(t, f)) if "cost" in f else getattr(t, f) for f in VIEW_FIELDS}
        for key, t in merged.items()
    }


def normalise(
    totals: dict[tuple[date, str], dict[str, Any]],
) -> dict[tuple[date, str], dict[str, Any]]:
    return {
        key: {f: (Decimal(v) if "cost" in f else int(v)) for f, v in values.items()}
        for key, values in totals.items()
    }


async def cost_by_workspace(pool: asyncpg.Pool) -> dict[tuple[date, str | None], Decimal]:
    """Allocated + reported cost per (day, workspace), as the table holds it."""
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT usage_date, workspace_id, sum(cost_usd) AS cost FROM fact_claude_daily_usage"
            " WHERE source IN ('usage_report', 'cost_report')"
            " AND cost_kind IN ('allocated', 'reported') GROUP BY usage_date, workspace_id"
        )
    return {(row["usage_date"], row["workspace_id"]): row["cost"] for row in rows}


async def stored_cost_by_workspace(pool: asyncpg.Pool) -> dict[tuple[date, str | None], Decimal]:
    """The stored cost-report lines per (day, workspace)."""
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT usage_date, workspace_id, sum(amount_usd) AS cost FROM claude_cost_lines"
            " GROUP BY usage_date, workspace_id"
        )
    return {(row["usage_date"], row["workspace_id"]): row["cost"] for row in rows}


def expected_cost_by_workspace(
    sim: Simulator, start: date = START, end: date = END
) -> dict[tuple[date, str | None], Decimal]:
    return {
        (day, workspace): cost
        for day in sim.truth.days(start, end)
        for workspace, cost in sim.truth.expected_cost_by_workspace(day).items()
    }


CURSOR_COUNTERS = ("total_lines_added", "accepted_lines_added", "agent_requests", "is_active")
CURSOR_UPSTREAM = ("totalLinesAdded", "acceptedLinesAdded", "agentRequests", "isActive")


async def cursor_against_truth(
    pool: asyncpg.Pool, sim: Simulator, start: date = START, end: date = END
) -> tuple[dict[Any, tuple[Any, ...]], dict[Any, tuple[Any, ...]]]:
    """(table, truth): counters per (day, email), for one equality assertion."""
    table = await snapshot(pool, "fact_cursor_daily_usage")
    truth = sim.truth.expected_cursor_rows(start, end)
    return (
        {
            key: tuple(row[c] for c in CURSOR_COUNTERS)
            for key, row in table.items()
            if row["in_daily_usage"]  # rows of people only usage events name are not daily rows
        },
        {
            (day, email.lower()): tuple(row[f] for f in CURSOR_UPSTREAM)
            for (day, email), row in truth.items()
        },
    )
