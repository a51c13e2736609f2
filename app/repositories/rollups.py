"""Rollups of the cross-tool view for the dashboard, rebuilt a day or a month at a time.

A month's rollups are rebuilt from `ai_usage_by_person_day` with the same rows the answers
read (`insights.ROWS`: the person, their team that day, whether the day is final), so a rollup
equals the answer it stands for. Marks say what no longer matches: a run marks its window's
days, a change of teams or aliases marks every month whole (in the same transaction as the
change). A refresher claims a marked month, rebuilds its marked days (or all of it) in one
transaction and clears each mark unless it was marked again meanwhile (a newer `generation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from app.repositories.insights import ACTIVE, ROWS, UNATTRIBUTED, tool_arrays

# Rows are marked in the order refreshers lock them (months, then days; each ascending), so
# two markers, or a marker and a refresher, never wait on each other in a circle.
_MARK_DAYS = """
    INSERT INTO rollup_stale_days (usage_date)
    SELECT DISTINCT d FROM unnest($1::date[]) AS d ORDER BY d
    ON CONFLICT (usage_date) DO UPDATE SET generation = nextval('rollup_generation')
"""
# A month marked by days alone rebuilds those days; one marked whole stays whole.
_MARK_MONTHS = """
    INSERT INTO rollup_stale_months (month, whole)
    SELECT DISTINCT date_trunc('month', d)::date, false FROM unnest($1::date[]) AS d ORDER BY 1
    ON CONFLICT (month) DO UPDATE SET generation = nextval('rollup_generation'), marked_at = now()
"""
_MARK_ALL = """
    INSERT INTO rollup_stale_months (month, whole)
    SELECT date_trunc('month', usage_date)::date, true FROM coverage_days
     UNION SELECT month, true FROM rollup_months ORDER BY 1
    ON CONFLICT (month) DO UPDATE
       SET generation = nextval('rollup_generation'), whole = true, marked_at = now()
"""
_CLAIM = """
    SELECT month, generation, whole FROM rollup_stale_months
     ORDER BY month DESC LIMIT 1 FOR UPDATE SKIP LOCKED
"""
_STALE_DAYS = """
    SELECT usage_date, generation FROM rollup_stale_days
     WHERE usage_date BETWEEN $1 AND $2 ORDER BY usage_date
"""
_CLEAR_DAYS = """
    DELETE FROM rollup_stale_days d USING unnest($1::date[], $2::bigint[]) AS s(day, generation)
     WHERE d.usage_date = s.day AND d.generation = s.generation
"""
# $1, $2: the month's first and last day; $3, $4: each tool's sources (for `final`).
_PERSON_DAYS = f"""
    {ROWS}, attribution AS (
        SELECT DISTINCT ON (account, usage_date, tool, platform, user_email)
               account, usage_date, tool, platform, user_email,
               attribution_method AS method, attribution_confidence AS confidence
          FROM person_day_attribution WHERE usage_date BETWEEN $1 AND $2
         ORDER BY account, usage_date, tool, platform, user_email, attribution_confidence,
                  attribution_method
    )
    INSERT INTO rollup_person_day
    SELECT u.usage_date, u.person, u.tool, u.platform, u.account, min(u.team),
           coalesce(sum(u.billed_cost_usd), 0), coalesce(sum(u.estimated_cost_usd), 0),
           coalesce(sum(u.consumption_cost_usd), 0), coalesce(sum(u.tokens), 0),
           coalesce(sum(u.requests), 0), coalesce(sum(u.accepted_lines), 0), sum(u.sessions),
           bool_and(u.final), bool_or(u.person_email IS NOT NULL AND {ACTIVE}),
           (array_agg(a.method ORDER BY a.confidence, a.method))[1], min(a.confidence)
      FROM rows u
      LEFT JOIN attribution a
        ON a.account = u.account AND a.usage_date = u.usage_date AND a.tool = u.tool
       AND a.platform = u.platform AND a.user_email = u.user_email
     WHERE u.usage_date = ANY($5::date[])
     GROUP BY 1, 2, 3, 4, 5
"""
_MONEY = """
    sum(billed_usd), coalesce(sum(billed_usd) FILTER (WHERE NOT final), 0),
    sum(estimated_usd), coalesce(sum(estimated_usd) FILTER (WHERE NOT final), 0),
    sum(consumption_usd), coalesce(sum(consumption_usd) FILTER (WHERE NOT final), 0)
"""
_SPEND_DAYS = f"""
    INSERT INTO rollup_spend_day
    SELECT usage_date, tool, platform, account, team, {_MONEY}, count(*)
      FROM rollup_person_day WHERE usage_date = ANY($1::date[])
     GROUP BY 1, 2, 3, 4, 5
"""
_PERSON_MONTHS = f"""
    INSERT INTO rollup_person_month
    SELECT $1::date, person, tool, platform, account, team, {_MONEY},
           count(*) FILTER (WHERE active), max(usage_date) FILTER (WHERE active)
      FROM rollup_person_day WHERE usage_date BETWEEN $1 AND $2
     GROUP BY 2, 3, 4, 5, 6
"""
_ACTIVE_WEEKS = f"""
    INSERT INTO rollup_active_week
    SELECT date_trunc('week', usage_date)::date, tool, platform, count(DISTINCT person)
      FROM rollup_person_day
     WHERE usage_date BETWEEN $1 AND $2 AND active AND person <> '{UNATTRIBUTED}'
     GROUP BY 1, 2, 3
"""


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_last(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


async def mark_days(connection: asyncpg.Connection, days: Iterable[date]) -> None:
    """`days` no longer match the facts. The month first, as a refresher locks them: one
    rebuilding the month makes this wait before any day is marked, so it clears none unseen
    (and never waits for a day this holds)."""
    marked = sorted(set(days))
    if marked:
        async with connection.transaction():
            await connection.execute(_MARK_MONTHS, marked)
            await connection.execute(_MARK_DAYS, marked)


async def mark_every_month(connection: asyncpg.Connection) -> None:
    """Every month holding data (or built) no longer matches: who is who or in which team
    changed."""
    await connection.execute(_MARK_ALL)


async def refresh_one(
    connection: asyncpg.Connection, tool_sources: Mapping[str, Sequence[str]]
) -> date | None:
    """Claim one marked month (the newest first: the dashboard opens on it) and rebuild its
    marked days — all of it when marked whole — in one transaction; None when no month is
    marked or each is being rebuilt."""
    async with connection.transaction():
        # A batch over days of many people: JIT compiling would cost more than it saves (the
        # views' row estimates are far too low), and the sorts fit in memory.
        await connection.execute("SET LOCAL jit = off")
        await connection.execute("SET LOCAL work_mem = '64MB'")
        claimed = await connection.fetchrow(_CLAIM)
        if claimed is None:
            return None
        first: date = claimed["month"]
        last = month_last(first)
        stale = await connection.fetch(_STALE_DAYS, first, last)
        days = [row[0] for row in stale]
        if claimed["whole"] or not days:
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        await _rebuild(connection, first, days, tool_sources)
        await connection.execute(_CLEAR_DAYS, [row[0] for row in stale], [row[1] for row in stale])
        await connection.execute(
            "DELETE FROM rollup_stale_months WHERE month = $1 AND generation = $2",
            first,
            claimed["generation"],
        )
    return first


async def _rebuild(
    connection: asyncpg.Connection,
    month: date,
    days: list[date],
    tool_sources: Mapping[str, Sequence[str]],
) -> None:
    """The days' person-days and team-days from the view; the month's person-months and the
    days' weeks (whole: their other days may lie in the next or last month) from those."""
    tools, sources = tool_arrays(tool_sources)
    for table in ("rollup_person_day", "rollup_spend_day"):
        await connection.execute(f"DELETE FROM {table} WHERE usage_date = ANY($1::date[])", days)
    await connection.execute(_PERSON_DAYS, days[0], days[-1], tools, sources, days)
    await connection.execute(_SPEND_DAYS, days)
    last = month_last(month)
    await connection.execute("DELETE FROM rollup_person_month WHERE month = $1", month)
    await connection.execute(_PERSON_MONTHS, month, last)
    week_first = days[0] - timedelta(days=days[0].weekday())
    week_last = days[-1] - timedelta(days=days[-1].weekday())
    # A week spanning two months is the two months' refreshers' to share: one at a time, each
    # counting the other's days as committed (until this transaction ends).
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext('rollup_active_week'))")
    await connection.execute(
        "DELETE FROM rollup_active_week WHERE week BETWEEN $1 AND $2", week_first, week_last
    )
    await connection.execute(_ACTIVE_WEEKS, week_first, week_last + timedelta(days=6))
    await connection.execute(
        "INSERT INTO rollup_months SELECT $1::date, now(), count(*) FROM rollup_person_day"
        " WHERE usage_date BETWEEN $1 AND $2 ON CONFLICT (month) DO UPDATE"
        " SET refreshed_at = now(), person_days = excluded.person_days",
        month,
        last,
    )


@dataclass(frozen=True)
class RollupState:
    stale_months: list[date]
    refreshed_at: datetime | None  # the newest rebuild


async def state(connection: asyncpg.Connection) -> RollupState:
    stale = await connection.fetch("SELECT month FROM rollup_stale_months ORDER BY month")
    refreshed = await connection.fetchval("SELECT max(refreshed_at) FROM rollup_months")
    return RollupState([row["month"] for row in stale], refreshed)
