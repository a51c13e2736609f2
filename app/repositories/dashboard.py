"""What the dashboard's pages read: the rollups (`app.repositories.rollups` keeps them equal to
the answers), a month or a person at a time, every list bounded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg

# The sortable columns of the people table (whitelisted: never user text in SQL).
PEOPLE_SORTS: Mapping[str, str] = {
    "person": 'person COLLATE "C"', "team": 'teams COLLATE "C"', "billed": "billed_usd",
    "estimated": "estimated_usd", "consumption": "consumption_usd",
    "active_days": "active_days", "last_active": "last_active",
}  # fmt: skip
_FILTERS: Mapping[str, str] = {"tool": "tool", "team": "team", "account": "account"}


@dataclass(frozen=True)
class DaySpend:
    day: date
    tool: str
    platform: str
    billed_usd: Decimal
    billed_provisional_usd: Decimal
    estimated_usd: Decimal
    estimated_provisional_usd: Decimal
    consumption_usd: Decimal
    consumption_provisional_usd: Decimal


async def daily_spend(
    connection: asyncpg.Connection, start: date, end: date, where: Mapping[str, str]
) -> list[DaySpend]:
    """Money per day, tool and platform over [start, end], only the rows matching `where`
    (keys of `_FILTERS`)."""
    filters = [f"{_FILTERS[name]} = ${n}" for n, name in enumerate(where, start=3)]
    rows = await connection.fetch(
        f"""
        SELECT usage_date, tool, platform, sum(billed_usd), sum(billed_provisional_usd),
               sum(estimated_usd), sum(estimated_provisional_usd), sum(consumption_usd),
               sum(consumption_provisional_usd)
          FROM rollup_spend_day WHERE usage_date BETWEEN $1 AND $2
               {"".join(" AND " + f for f in filters)}
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        start,
        end,
        *where.values(),
    )
    return [DaySpend(*row) for row in rows]


async def person_month_billed(
    connection: asyncpg.Connection, month: date, person: str, through: date
) -> list[tuple[date, Decimal]]:
    """A person's billed USD per day of `month` up to `through` (a person's budget)."""
    rows = await connection.fetch(
        "SELECT usage_date, sum(billed_usd) FROM rollup_person_day WHERE person = $1"
        " AND usage_date BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1",
        person,
        month,
        through,
    )
    return [(row[0], row[1]) for row in rows]


@dataclass(frozen=True)
class PersonTotal:
    person: str
    teams: str  # comma-separated: a person who moved this month has two
    tools: str
    billed_usd: Decimal
    billed_provisional_usd: Decimal
    estimated_usd: Decimal
    consumption_usd: Decimal
    active_days: int
    last_active: date | None


@dataclass(frozen=True)
class PeoplePage:
    rows: list[PersonTotal]
    total: int  # people matching the filters


async def people_month(
    connection: asyncpg.Connection,
    month: date,
    *,
    search: str = "",
    team: str = "",
    tool: str = "",
    sort: str = "billed",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> PeoplePage:
    """Each person's month over every tool: filtered, sorted by a `PEOPLE_SORTS` key, a page."""
    direction = "DESC" if descending else "ASC"
    order = f'{PEOPLE_SORTS[sort]} {direction} NULLS LAST, person COLLATE "C"'
    rows = await connection.fetch(
        f"""
        WITH people AS (
            SELECT person, string_agg(DISTINCT team, ', ' ORDER BY team) AS teams,
                   string_agg(DISTINCT tool, ', ' ORDER BY tool) AS tools,
                   sum(billed_usd) AS billed_usd,
                   sum(billed_provisional_usd) AS billed_provisional_usd,
                   sum(estimated_usd) AS estimated_usd, sum(consumption_usd) AS consumption_usd,
                   max(active_days) AS active_days, max(last_active) AS last_active
              FROM rollup_person_month
             WHERE month = $1 AND ($2 = '' OR strpos(person, lower($2)) > 0)
               AND ($3 = '' OR team = $3) AND ($4 = '' OR tool = $4)
             GROUP BY person
        )
        SELECT *, count(*) OVER () AS matching FROM people
         ORDER BY {order} LIMIT $5 OFFSET $6
        """,
        month, search, team, tool, limit, offset,
    )  # fmt: skip
    total = rows[0]["matching"] if rows else 0
    return PeoplePage([PersonTotal(*row[:-1]) for row in rows], total)


@dataclass(frozen=True)
class TeamTotal:
    team: str
    billed_usd: Decimal
    estimated_usd: Decimal
    consumption_usd: Decimal
    people: int


async def teams_month(connection: asyncpg.Connection, month: date, limit: int) -> list[TeamTotal]:
    rows = await connection.fetch(
        """
        SELECT team, sum(billed_usd), sum(estimated_usd), sum(consumption_usd),
               count(DISTINCT person)
          FROM rollup_person_month WHERE month = $1
         GROUP BY team ORDER BY 2 DESC, 1 LIMIT $2
        """,
        month,
        limit,
    )
    return [TeamTotal(*row) for row in rows]


async def filter_choices(
    connection: asyncpg.Connection, month: date
) -> tuple[list[str], list[str]]:
    """The teams and tools of a month (the people table's filters), in one read."""
    found = await connection.fetchrow(
        "SELECT array_agg(DISTINCT team ORDER BY team), array_agg(DISTINCT tool ORDER BY tool)"
        " FROM rollup_spend_day WHERE usage_date BETWEEN $1"
        " AND ($1::date + interval '1 month' - interval '1 day')::date", month
    )  # fmt: skip
    return list(found[0] or []), list(found[1] or [])


@dataclass(frozen=True)
class PersonDay:
    day: date
    tool: str
    platform: str
    account: str
    team: str
    billed_usd: Decimal
    estimated_usd: Decimal
    consumption_usd: Decimal
    tokens: Decimal
    requests: Decimal
    accepted_lines: int
    sessions: int | None
    final: bool
    active: bool
    attribution_method: str | None
    attribution_confidence: Decimal | None


async def person_days(
    connection: asyncpg.Connection, person: str, start: date, end: date
) -> list[PersonDay]:
    rows = await connection.fetch(
        """
        SELECT usage_date, tool, platform, account, team, billed_usd, estimated_usd,
               consumption_usd, tokens, requests, accepted_lines, sessions, final, active,
               attribution_method, attribution_confidence
          FROM rollup_person_day WHERE person = $1 AND usage_date BETWEEN $2 AND $3
         ORDER BY usage_date, tool, platform, account
        """,
        person,
        start,
        end,
    )
    return [PersonDay(*row) for row in rows]


@dataclass(frozen=True)
class ActiveWeek:
    week: date
    tool: str
    platform: str
    active_people: int


async def active_weeks(connection: asyncpg.Connection, first: date, last: date) -> list[ActiveWeek]:
    rows = await connection.fetch(
        "SELECT week, tool, platform, active_people FROM rollup_active_week"
        " WHERE week BETWEEN $1 AND $2 ORDER BY 1, 2, 3",
        first,
        last,
    )
    return [ActiveWeek(*row) for row in rows]


async def months_with_data(connection: asyncpg.Connection) -> list[date]:
    rows = await connection.fetch("SELECT month FROM rollup_months ORDER BY month")
    return [row[0] for row in rows]
