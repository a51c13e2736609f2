"""Read-side summaries for people (the CLI's end-of-run table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg


@dataclass(frozen=True)
class PlatformSummary:
    platform: str
    people: int
    tokens: int
    billed_cost_usd: Decimal
    estimated_cost_usd: Decimal


@dataclass(frozen=True)
class CursorSummary:
    people: int
    active_days: int
    accepted_lines_added: int
    agent_requests: int
    tokens: int = 0
    charged_cost_usd: Decimal = Decimal(0)  # Σ usage events' chargedCents
    billable_requests: Decimal = Decimal(0)


async def claude_summary(
    connection: asyncpg.Connection, start: date, end: date
) -> list[PlatformSummary]:
    rows = await connection.fetch(
        """
        SELECT platform,
               count(DISTINCT user_email) AS people,
               sum(uncached_input_tokens + cache_creation_input_tokens
                   + cache_read_input_tokens + output_tokens)::bigint AS tokens,
               sum(billed_cost_usd) AS billed,
               sum(estimated_cost_usd) AS estimated
          FROM claude_usage_by_user_day
         WHERE usage_date BETWEEN $1 AND $2
         GROUP BY platform ORDER BY platform
        """,
        start,
        end,
    )
    return [
        PlatformSummary(r["platform"], r["people"], r["tokens"], r["billed"], r["estimated"])
        for r in rows
    ]


async def cursor_summary(connection: asyncpg.Connection, start: date, end: date) -> CursorSummary:
    row = await connection.fetchrow(
        """
        SELECT count(DISTINCT email) AS people,
               count(*) FILTER (WHERE is_active) AS active_days,
               coalesce(sum(accepted_lines_added), 0)::bigint AS accepted,
               coalesce(sum(agent_requests), 0)::bigint AS agent,
               coalesce(sum(input_tokens + output_tokens + cache_write_tokens
                            + cache_read_tokens), 0)::bigint AS tokens,
               coalesce(sum(charged_cost_usd), 0) AS charged,
               coalesce(sum(billable_requests), 0) AS requests
          FROM fact_cursor_daily_usage WHERE usage_date BETWEEN $1 AND $2
        """,
        start,
        end,
    )
    assert row is not None
    return CursorSummary(
        row["people"], row["active_days"], row["accepted"], row["agent"],
        row["tokens"], row["charged"], row["requests"],
    )  # fmt: skip


@dataclass(frozen=True)
class CopilotSummary:
    people: int
    billed_cost_usd: Decimal  # the billing lines' net
    consumption_usd: Decimal  # the reports' AI credits at list price


async def copilot_summary(connection: asyncpg.Connection, start: date, end: date) -> CopilotSummary:
    row = await connection.fetchrow(
        """
        SELECT count(DISTINCT (account, user_id)) AS people,
               coalesce(sum(billed_cost_usd), 0) AS billed,
               coalesce(sum(consumption_cost_usd), 0) AS consumption
          FROM copilot_usage_by_user_day WHERE usage_date BETWEEN $1 AND $2
        """,
        start,
        end,
    )
    return CopilotSummary(row["people"], row["billed"], row["consumption"])


@dataclass(frozen=True)
class WindowSummary:
    """What landed in the fact tables for a window."""

    claude: list[PlatformSummary]
    cursor: CursorSummary
    copilot: CopilotSummary


async def window_summary(connection: asyncpg.Connection, start: date, end: date) -> WindowSummary:
    return WindowSummary(
        await claude_summary(connection, start, end),
        await cursor_summary(connection, start, end),
        await copilot_summary(connection, start, end),
    )
