"""Who holds a seat of each tool, and when they last used it (within a window).

A roster per tool, from what the upstreams list, beside the same person's active days and
the days the tool's coverage ledger fetched in the window (no fetched day: the seat's use is
unknown — "no data", never "idle"):

- Cursor: the members its daily usage listed on the account's latest fetched day;
- Claude: the organisation's users (`directory_users`, not gone);
- Copilot: the seats held now (`copilot_seats`, not removed).

These are the built-in tables' rosters, as `repositories/facts.py` holds their writers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg


@dataclass(frozen=True)
class SeatUse:
    tool: str
    account: str
    seat: str  # the upstream's id of the seat's holder (email, user id)
    email: str | None
    plan: str | None
    since: date | None  # when the seat was granted, where known
    last_active: date | None  # the latest active day in the window
    active_days: int
    fetched_days: int  # days of the window the tool's sources fetched for the account


_FETCHED = """
    (SELECT count(DISTINCT c.usage_date) FROM coverage_days c
      WHERE c.account = r.account AND c.source = ANY($3::text[])
        AND c.usage_date BETWEEN $1 AND $2 AND c.last_fetched_at IS NOT NULL)
"""
_ROSTERS: Mapping[str, str] = {
    "cursor": f"""
        WITH latest AS (
            SELECT account, max(usage_date) AS day FROM fact_cursor_daily_usage
             WHERE in_daily_usage AND usage_date BETWEEN $1 AND $2 GROUP BY account
        ), r AS (
            SELECT f.account, f.email FROM fact_cursor_daily_usage f
              JOIN latest l ON l.account = f.account AND l.day = f.usage_date
             WHERE f.in_daily_usage AND f.service_account_id IS NULL
        )
        SELECT r.account, r.email AS seat, r.email, NULL::text AS plan, NULL::date AS since,
               max(a.usage_date) AS last_active, count(a.usage_date) AS active_days,
               {_FETCHED} AS fetched_days
          FROM r LEFT JOIN fact_cursor_daily_usage a
            ON a.account = r.account AND a.email = r.email AND a.is_active
           AND a.usage_date BETWEEN $1 AND $2
         GROUP BY r.account, r.email
    """,
    "claude": f"""
        WITH r AS (
            SELECT account, user_id, lower(email) AS email FROM directory_users
             WHERE gone_since IS NULL AND email IS NOT NULL
        )
        SELECT r.account, r.user_id AS seat, r.email, NULL::text AS plan, NULL::date AS since,
               max(a.usage_date) AS last_active, count(DISTINCT a.usage_date) AS active_days,
               {_FETCHED} AS fetched_days
          FROM r LEFT JOIN fact_claude_daily_usage a
            ON a.account = r.account AND lower(a.user_email) = r.email
           AND a.usage_date BETWEEN $1 AND $2
         GROUP BY r.account, r.user_id, r.email
    """,
    "copilot": f"""
        WITH r AS (
            SELECT account, user_id, email, plan_type, created_at FROM copilot_seats
             WHERE removed_at IS NULL
        )
        SELECT r.account, r.user_id::text AS seat, r.email, r.plan_type AS plan,
               (r.created_at AT TIME ZONE 'UTC')::date AS since,
               max(a.usage_date) AS last_active, count(a.usage_date) AS active_days,
               {_FETCHED} AS fetched_days
          FROM r LEFT JOIN fact_copilot_daily_usage a
            ON a.account = r.account AND a.user_id = r.user_id
           AND a.usage_date BETWEEN $1 AND $2
         GROUP BY r.account, r.user_id, r.email, r.plan_type, r.created_at
    """,
}
TOOLS = tuple(_ROSTERS)


async def seat_use(
    connection: asyncpg.Connection,
    start: date,
    end: date,
    tool_sources: Mapping[str, Sequence[str]],
) -> list[SeatUse]:
    """Every seat of every tool the registry has sources for, with its use in [start, end]."""
    found: list[SeatUse] = []
    for tool, sql in _ROSTERS.items():
        sources = list(tool_sources.get(tool, ()))
        if not sources:
            continue
        for row in await connection.fetch(sql, start, end, sources):
            found.append(SeatUse(tool, *row))
    return found
