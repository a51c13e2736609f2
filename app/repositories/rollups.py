"""Rollups of the cross-tool view for the dashboard, rebuilt a month at a time.

A month's rollups are rebuilt from `ai_usage_by_person_day` with the same rows the answers
read (`insights.ROWS`: the person, their team that day, whether the day is final), so a rollup
equals the answer it stands for. Marks say which months no longer match: a run marks its
window's months, a change of teams, aliases or account names marks every month (in the same
transaction as the change). A refresher claims a marked month, rebuilds it in one transaction
and clears the mark unless it was marked again meanwhile (a newer `generation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from app.repositories.insights import ACTIVE, ROWS, UNATTRIBUTED, tool_arrays

_MARK = """
    INSERT INTO rollup_stale_months (month) SELECT DISTINCT m FROM unnest($1::date[]) AS m
    ON CONFLICT (month) DO UPDATE SET generation = nextval('rollup_generation'), marked_at = now()
"""
_MARK_ALL = """
    INSERT INTO rollup_stale_months (month)
    SELECT date_trunc('month', usage_date)::date FROM coverage_days
     UNION SELECT month FROM rollup_months
    ON CONFLICT (month) DO UPDATE SET generation = nextval('rollup_generation'), marked_at = now()
"""
_CLAIM = """
    SELECT month, generation FROM rollup_stale_months
     ORDER BY month DESC LIMIT 1 FOR UPDATE SKIP LOCKED
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
      FROM rollup_person_day WHERE usage_date BETWEEN $1 AND $2
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
    """The months of `days` no longer match the facts."""
    months = sorted({month_of(day) for day in days})
    if months:
        await connection.execute(_MARK, months)


async def mark_every_month(connection: asyncpg.Connection) -> None:
    """Every month holding data (or built) no longer matches: who is who or in which team
    changed."""
    await connection.execute(_MARK_ALL)


async def refresh_one(
    connection: asyncpg.Connection, tool_sources: Mapping[str, Sequence[str]]
) -> date | None:
    """Claim one marked month (the newest first: the dashboard opens on it) and rebuild its
    rollups in one transaction; None when no month is marked or each is being rebuilt."""
    tools, sources = tool_arrays(tool_sources)
    async with connection.transaction():
        # A batch over a month: JIT compiling would cost more than it saves (the row estimates
        # of the views are far too low), and the sorts fit in memory.
        await connection.execute("SET LOCAL jit = off")
        await connection.execute("SET LOCAL work_mem = '64MB'")
        claimed = await connection.fetchrow(_CLAIM)
        if claimed is None:
            return None
        first: date = claimed["month"]
        last = month_last(first)
        for table in ("rollup_person_day", "rollup_spend_day"):
            await connection.execute(
                f"DELETE FROM {table} WHERE usage_date BETWEEN $1 AND $2", first, last
            )
        await connection.execute("DELETE FROM rollup_person_month WHERE month = $1", first)
        status = await connection.execute(_PERSON_DAYS, first, last, tools, sources)
        await connection.execute(_SPEND_DAYS, first, last)
        await connection.execute(_PERSON_MONTHS, first, last)
        # The weeks this month touches, whole (their other days are in the next or last month).
        week_first = first - timedelta(days=first.weekday())
        week_last = last + timedelta(days=6 - last.weekday())
        await connection.execute(
            "DELETE FROM rollup_active_week WHERE week BETWEEN $1 AND $2", week_first, last
        )
        await connection.execute(_ACTIVE_WEEKS, week_first, week_last)
        await connection.execute(
            "INSERT INTO rollup_months VALUES ($1, now(), $2) ON CONFLICT (month) DO UPDATE"
            " SET refreshed_at = now(), person_days = excluded.person_days",
            first,
            int(status.split()[-1]),
        )
        await connection.execute(
            "DELETE FROM rollup_stale_months WHERE month = $1 AND generation = $2",
            first,
            claimed["generation"],
        )
    return first


@dataclass(frozen=True)
class RollupState:
    stale_months: list[date]
    refreshed_at: datetime | None  # the newest rebuild


async def state(connection: asyncpg.Connection) -> RollupState:
    stale = await connection.fetch("SELECT month FROM rollup_stale_months ORDER BY month")
    refreshed = await connection.fetchval("SELECT max(refreshed_at) FROM rollup_months")
    return RollupState([row["month"] for row in stale], refreshed)
