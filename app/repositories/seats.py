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


# The days of the window each account's sources of the tool fetched: once per account, not
# once per seat (10,000 seats would each count the same days again).
_FETCHED_DAYS = """
    fetched AS MATERIALIZED (
        SELECT c.account, count(DISTINCT c.usage_date) AS days FROM coverage_days c
         WHERE c.source = ANY($3::text[]) AND c.usage_date BETWEEN $1 AND $2
           AND c.last_fetched_at IS NOT NULL
         GROUP BY c.account
    )
"""
_FETCHED = "coalesce((SELECT fe.days FROM fetched fe WHERE fe.account = r.account), 0)"
_ROSTERS: Mapping[str, str] = {
    "cursor": f"""
        WITH {_FETCHED_DAYS}, latest AS (  -- each account's latest day, read backwards
            SELECT a.account, (SELECT max(f.usage_date) FROM fact_cursor_daily_usage f
                                WHERE f.account = a.account AND f.in_daily_usage
                                  AND f.usage_date BETWEEN $1 AND $2) AS day
              FROM (SELECT DISTINCT account FROM coverage_days
                     WHERE source = ANY($3::text[])) a
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
           AND a.usage_date BETWEEN $1 AND $2 AND a.account = ANY($4::text[])
         GROUP BY r.account, r.email
    """,
    "claude": f"""
        WITH {_FETCHED_DAYS}, r AS (
            SELECT account, user_id, lower(email) AS email FROM directory_users
             WHERE gone_since IS NULL AND email IS NOT NULL
        ), days AS (  -- each user's days, then their count: hash aggregates, no sort
            SELECT DISTINCT account, user_email, usage_date FROM fact_claude_daily_usage
             WHERE account = ANY($4::text[]) AND usage_date BETWEEN $1 AND $2
               AND user_email IS NOT NULL
        ), used AS (
            SELECT account, user_email, max(usage_date) AS last_active, count(*) AS active_days
              FROM days GROUP BY account, user_email
        )
        SELECT r.account, r.user_id AS seat, r.email, NULL::text AS plan, NULL::date AS since,
               u.last_active, coalesce(u.active_days, 0) AS active_days,
               {_FETCHED} AS fetched_days
          FROM r LEFT JOIN used u ON u.account = r.account AND u.user_email = r.email
    """,
    "copilot": f"""
        WITH {_FETCHED_DAYS}, r AS (
            SELECT account, user_id, email, plan_type, created_at FROM copilot_seats
             WHERE removed_at IS NULL
        )
        SELECT r.account, r.user_id::text AS seat, r.email, r.plan_type AS plan,
               (r.created_at AT TIME ZONE 'UTC')::date AS since,
               max(a.usage_date) AS last_active, count(a.usage_date) AS active_days,
               {_FETCHED} AS fetched_days
          FROM r LEFT JOIN fact_copilot_daily_usage a
            ON a.account = r.account AND a.user_id = r.user_id
           AND a.usage_date BETWEEN $1 AND $2 AND a.account = ANY($4::text[])
         GROUP BY r.account, r.user_id, r.email, r.plan_type, r.created_at
    """,
}
TOOLS = tuple(_ROSTERS)
_ACCOUNTS = "SELECT DISTINCT account FROM coverage_days WHERE source = ANY($1::text[])"


async def seat_use(
    connection: asyncpg.Connection,
    start: date,
    end: date,
    tool_sources: Mapping[str, Sequence[str]],
) -> list[SeatUse]:
    """Every seat of every tool the registry has sources for, with its use in [start, end]."""
    found: list[SeatUse] = []
    async with connection.transaction():
        # The joins' row estimates are far too high: JIT would compile for longer (~0.5 s)
        # than the queries run. And a month is a narrow slice of the facts along their key,
        # written a day at a time: read through the key (2× faster than a scan at a year of
        # 10,000 people, where the default random-page cost makes the planner scan).
        await connection.execute("SET LOCAL jit = off")
        await connection.execute("SET LOCAL random_page_cost = 1.1")
        for tool, sql in _ROSTERS.items():
            sources = list(tool_sources.get(tool, ()))
            if not sources:
                continue
            # The accounts, named: the facts are then read along their keys (account, day, …)
            # for the window alone, not scanned whole.
            accounts = [row[0] for row in await connection.fetch(_ACCOUNTS, sources)]
            for row in await connection.fetch(sql, start, end, sources, accounts):
                found.append(SeatUse(tool, *row))
    return found


_SEAT_COLUMNS = ("tool", "account", "seat", "email", "plan", "since", "last_active",
                 "active_days", "fetched_days")  # fmt: skip


async def rebuild_seat_use(
    connection: asyncpg.Connection,
    start: date,
    end: date,
    tool_sources: Mapping[str, Sequence[str]],
) -> int:
    """Keep every seat's use over [start, end] (one window at a time), read under a lock: of
    two processes rebuilding at once, the later one reads what the earlier one wrote after."""
    async with connection.transaction():
        await connection.execute("LOCK TABLE rollup_seat_window IN EXCLUSIVE MODE")
        seats = await seat_use(connection, start, end, tool_sources)
        await connection.execute("DELETE FROM rollup_seat_use")
        await connection.copy_records_to_table(
            "rollup_seat_use",
            records=[tuple(getattr(seat, name) for name in _SEAT_COLUMNS) for seat in seats],
            columns=_SEAT_COLUMNS,
        )
        await connection.execute(
            "INSERT INTO rollup_seat_window VALUES (true, $1, $2, now()) ON CONFLICT (only_one)"
            " DO UPDATE SET window_start = $1, window_end = $2, refreshed_at = now()",
            start,
            end,
        )
    return len(seats)


async def stored_seat_use(
    connection: asyncpg.Connection, start: date, end: date
) -> list[SeatUse] | None:
    """The seats' use kept for exactly [start, end], or None (another window, or none)."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        window = await connection.fetchrow(
            "SELECT window_start, window_end FROM rollup_seat_window"
        )
        if window is None or (window[0], window[1]) != (start, end):
            return None
        rows = await connection.fetch(
            f"SELECT {', '.join(_SEAT_COLUMNS)} FROM rollup_seat_use ORDER BY tool, account, seat"
        )
    return [SeatUse(*row) for row in rows]


async def stored_window(connection: asyncpg.Connection) -> tuple[date, date] | None:
    found = await connection.fetchrow("SELECT window_start, window_end FROM rollup_seat_window")
    return None if found is None else (found[0], found[1])
