"""What each dashboard page shows, assembled from the rollups (fast at a year of 10,000 people)
and the answers' own rules: the same forecast, the same seat statuses, the same budgets.

A page reads the rollups only; `app.orchestration.rollups` keeps them equal to the facts, and
`RollupState` says when a month is being rebuilt (a page says so rather than show a mix).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import asyncpg

from app.orchestration.insights import SCOPE_DIMENSION
from app.orchestration.run_request import utc_today
from app.processing.forecast import Forecast, forecast_month, month_end
from app.repositories import alerts as alerts_repo
from app.repositories import dashboard as dashboard_repo
from app.repositories import rollups as rollups_repo
from app.repositories.alerts import Budget
from app.repositories.dashboard import ActiveWeek, DaySpend, PeoplePage, PersonDay, TeamTotal
from app.repositories.rollups import RollupState

ZERO = Decimal(0)
TOP = 10
ADOPTION_WEEKS = 12
FORECAST_HISTORY_DAYS = 28  # what a forecast reads before the month (as the answers do)


def month_window(month: date, today: date | None = None) -> tuple[date, date]:
    """A month's first day and its last complete day (yesterday, in the current month)."""
    first = month.replace(day=1)
    yesterday = (today or utc_today()) - timedelta(days=1)
    return first, min(month_end(first), yesterday)


@dataclass(frozen=True)
class ToolTotal:
    tool: str
    platform: str
    billed_usd: Decimal
    billed_provisional_usd: Decimal
    estimated_usd: Decimal
    consumption_usd: Decimal


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spent_usd: Decimal
    forecast: Forecast

    @property
    def share(self) -> Decimal:
        return self.spent_usd / self.budget.monthly_usd


@dataclass
class Overview:
    month: date
    through: date
    daily: list[DaySpend]
    totals: list[ToolTotal]
    forecast: Forecast
    budgets: list[BudgetStatus]
    adoption: list[ActiveWeek]
    top_people: PeoplePage
    top_teams: list[TeamTotal]
    months: list[date]
    rollups: RollupState
    provisional_days: set[date] = field(default_factory=set)


def _totals(daily: list[DaySpend]) -> list[ToolTotal]:
    sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO] * 4)
    for row in daily:
        total = sums[(row.tool, row.platform)]
        total[0] += row.billed_usd
        total[1] += row.billed_provisional_usd
        total[2] += row.estimated_usd
        total[3] += row.consumption_usd
    return [ToolTotal(tool, platform, *values) for (tool, platform), values in sorted(sums.items())]


def _billed_by_day(daily: list[DaySpend]) -> dict[date, Decimal]:
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for row in daily:
        by_day[row.day] += row.billed_usd
    return dict(by_day)


async def _budget_status(
    connection: asyncpg.Connection,
    budget: Budget,
    first: date,
    through: date,
    everyone: Mapping[date, Decimal] | None,
) -> BudgetStatus:
    """A budget's month so far and its forecast; `everyone`: the organisation's billed by day
    over the same days, when the caller has read it already."""
    dimension = SCOPE_DIMENSION[budget.scope]
    history = first - timedelta(days=FORECAST_HISTORY_DAYS)
    by_day: Mapping[date, Decimal]
    if dimension is None and everyone is not None:
        by_day = everyone
    elif dimension == "person":
        days = await dashboard_repo.person_month_billed(
            connection, history, budget.scope_value, through
        )
        by_day = dict(days)
    else:
        where = {} if dimension is None else {dimension: budget.scope_value}
        by_day = _billed_by_day(
            await dashboard_repo.daily_spend(connection, history, through, where)
        )
    spent = sum((v for day, v in by_day.items() if day >= first), ZERO)
    return BudgetStatus(budget, spent, forecast_month(by_day, first, through, budget.monthly_usd))


async def overview(pool: asyncpg.Pool, month: date) -> Overview:
    first, through = month_window(month)
    history = first - timedelta(days=FORECAST_HISTORY_DAYS)
    week_last = through - timedelta(days=through.weekday())
    async with pool.acquire() as connection:
        daily = await dashboard_repo.daily_spend(connection, history, through, {})
        adoption = await dashboard_repo.active_weeks(
            connection, week_last - timedelta(weeks=ADOPTION_WEEKS - 1), week_last
        )
        people = await dashboard_repo.people_month(connection, first, limit=TOP)
        teams = await dashboard_repo.teams_month(connection, first, TOP)
        months = await dashboard_repo.months_with_data(connection)
        state = await rollups_repo.state(connection)
    everyone = _billed_by_day(daily)
    budgets = await budget_statuses(pool, first, everyone)
    organization = next((b for b in budgets if b.budget.scope == "organization"), None)
    in_month = [row for row in daily if row.day >= first]
    return Overview(
        month=first, through=through, daily=in_month, totals=_totals(in_month),
        forecast=organization.forecast if organization else forecast_month(
            everyone, first, through
        ),
        budgets=budgets, adoption=adoption, top_people=people, top_teams=teams, months=months,
        rollups=state,
        provisional_days={row.day for row in in_month if row.billed_provisional_usd
                          or row.estimated_provisional_usd or row.consumption_provisional_usd},
    )  # fmt: skip


async def budget_statuses(
    pool: asyncpg.Pool, month: date, everyone: Mapping[date, Decimal] | None = None
) -> list[BudgetStatus]:
    """Every budget's month so far, with its forecast (`everyone`: as `_budget_status`)."""
    first, through = month_window(month)
    async with pool.acquire() as connection:
        return [
            await _budget_status(connection, budget, first, through, everyone)
            for budget in await alerts_repo.budgets(connection)
        ]


@dataclass(frozen=True)
class PeopleQuery:
    month: date
    search: str = ""
    team: str = ""
    tool: str = ""
    sort: str = "billed"
    descending: bool = True
    page: int = 1
    per_page: int = 50


@dataclass
class People:
    query: PeopleQuery
    found: PeoplePage
    teams: list[str]
    tools: list[str]
    months: list[date]
    rollups: RollupState

    @property
    def pages(self) -> int:
        return max(1, -(-self.found.total // self.query.per_page))


async def people(pool: asyncpg.Pool, query: PeopleQuery) -> People:
    async with pool.acquire() as connection:
        found = await dashboard_repo.people_month(
            connection, query.month, search=query.search, team=query.team, tool=query.tool,
            sort=query.sort, descending=query.descending, limit=query.per_page,
            offset=(query.page - 1) * query.per_page,
        )  # fmt: skip
        teams, tools = await dashboard_repo.filter_choices(connection, query.month)
        months = await dashboard_repo.months_with_data(connection)
        state = await rollups_repo.state(connection)
    return People(query, found, teams, tools, months, state)


@dataclass(frozen=True)
class ToolMonth:
    """A person's month on one tool and platform: the sums, and how surely it is theirs."""

    tool: str
    platform: str
    billed_usd: Decimal
    estimated_usd: Decimal
    consumption_usd: Decimal
    tokens: Decimal
    requests: Decimal
    active_days: int
    attribution_method: str | None
    attribution_confidence: Decimal | None


@dataclass
class Person:
    person: str
    month: date
    through: date
    days: list[PersonDay]
    tools: list[ToolMonth]
    teams: list[str]
    months: list[date]

    def by_day(self) -> Mapping[date, Mapping[tuple[str, str], PersonDay]]:
        table: dict[date, dict[tuple[str, str], PersonDay]] = defaultdict(dict)
        for row in self.days:
            table[row.day][(row.tool, row.platform)] = row
        return table


def _tool_months(days: list[PersonDay]) -> list[ToolMonth]:
    grouped: dict[tuple[str, str], list[PersonDay]] = defaultdict(list)
    for row in days:
        grouped[(row.tool, row.platform)].append(row)
    found = []
    for (tool, platform), rows in sorted(grouped.items()):
        surest = min(
            (r for r in rows if r.attribution_confidence is not None),
            key=lambda r: (r.attribution_confidence, r.attribution_method or ""),
            default=None,
        )
        found.append(
            ToolMonth(
                tool, platform, sum((r.billed_usd for r in rows), ZERO),
                sum((r.estimated_usd for r in rows), ZERO),
                sum((r.consumption_usd for r in rows), ZERO), sum((r.tokens for r in rows), ZERO),
                sum((r.requests for r in rows), ZERO), sum(1 for r in rows if r.active),
                surest.attribution_method if surest else None,
                surest.attribution_confidence if surest else None,
            )
        )  # fmt: skip
    return found


async def person(pool: asyncpg.Pool, email: str, month: date) -> Person:
    first, through = month_window(month)
    async with pool.acquire() as connection:
        days = await dashboard_repo.person_days(connection, email, first, through)
        months = await dashboard_repo.months_with_data(connection)
    teams = sorted({row.team for row in days})
    return Person(email, first, through, days, _tool_months(days), teams, months)
