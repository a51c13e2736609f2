"""Answers over every tool and account: spend grouped any way, adoption, seats, forecasts.

The API and the CLI ask here; the SQL is in `app.repositories.insights` and `.seats`, the rules
in `app.processing.forecast` and `.seats`; which sources make up each tool comes from the
registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import asyncpg

from app.config import Settings
from app.orchestration.sources.registry import REGISTRY
from app.processing.forecast import Forecast, forecast_month, month_end
from app.processing.seats import SeatStatus, seat_price, seat_status
from app.repositories import insights as insights_repo
from app.repositories import seats as seats_repo
from app.repositories.insights import DIMENSIONS, AdoptionRow, SpendRow

SCOPES = ("organization", "account", "team", "person", "tool")
# The dimension a budget's scope narrows (the organisation: none).
SCOPE_DIMENSION: Mapping[str, str | None] = {
    "organization": None, "account": "account", "team": "team", "person": "person",
    "tool": "tool",
}  # fmt: skip
MAX_DAYS = 732
MAX_THRESHOLD = Decimal(10)  # a threshold is a fraction of the budget: above 0, at most 10×


def takes_value(scope: str) -> bool:
    """Whether a budget's scope names one of its kind (a team, …; not the organisation)."""
    return SCOPE_DIMENSION[scope] is not None


def threshold_ok(threshold: Decimal) -> bool:
    return Decimal(0) < threshold <= MAX_THRESHOLD


class InsightError(ValueError):
    """A question that cannot be answered as asked: says which field and why."""


def check_window(start: date, end: date, today: date) -> None:
    if end < start:
        raise InsightError(f"end {end} is before start {start}")
    if end >= today:
        raise InsightError(f"end {end} is not a complete UTC day yet (today is {today})")
    if (end - start).days + 1 > MAX_DAYS:
        raise InsightError(f"at most {MAX_DAYS} days at a time")


def check_group_by(group_by: Sequence[str]) -> list[str]:
    unknown = [name for name in group_by if name not in DIMENSIONS]
    if unknown:
        raise InsightError(
            f"group_by: unknown {', '.join(unknown)} (known: {', '.join(DIMENSIONS)})"
        )
    return list(dict.fromkeys(group_by))


def scope_filter(scope: str, value: str) -> dict[str, str]:
    if scope not in SCOPES:
        raise InsightError(f"scope: unknown {scope!r} (known: {', '.join(SCOPES)})")
    dimension = SCOPE_DIMENSION[scope]
    if dimension is None:
        return {}
    if not value:
        raise InsightError(f"scope {scope} needs a value (which {scope})")
    return {dimension: value}


async def spend(
    pool: asyncpg.Pool,
    start: date,
    end: date,
    group_by: Sequence[str],
    where: Mapping[str, str] | None = None,
) -> list[SpendRow]:
    async with pool.acquire() as connection:
        return await insights_repo.spend(
            connection, start, end, group_by, REGISTRY.tool_sources(), where
        )


@dataclass(frozen=True)
class MonthSpend:
    billed_usd: Decimal  # the month up to its `through` day
    provisional_usd: Decimal  # of it, on days the upstreams may still revise
    daily: dict[date, Decimal]  # billed by day: the month and the four weeks before it


async def month_spend(
    pool: asyncpg.Pool, scope: str, value: str, month: date, through: date
) -> MonthSpend:
    """A scope's month up to `through`, from one query by day that reaches four weeks back
    (what a forecast needs)."""
    first = month.replace(day=1)
    through = min(through, month_end(first))
    rows = await spend(
        pool, first - timedelta(days=28), through, ["day"], scope_filter(scope, value)
    )
    daily = {date.fromisoformat(row.group["day"]): row for row in rows}
    in_month = [row for day, row in daily.items() if day >= first]
    return MonthSpend(
        sum((row.billed_usd for row in in_month), Decimal(0)),
        sum((row.billed_provisional_usd for row in in_month), Decimal(0)),
        {day: row.billed_usd for day, row in daily.items()},
    )


async def forecast(
    pool: asyncpg.Pool,
    scope: str,
    value: str,
    month: date,
    as_of: date,
    budget: Decimal | None = None,
) -> Forecast:
    spent = await month_spend(pool, scope, value, month, as_of)
    return forecast_month(spent.daily, month, as_of, budget)


@dataclass(frozen=True)
class Adoption:
    rows: list[AdoptionRow]
    seats: dict[str, int]  # seats held at the window's end, per tool


async def adoption(pool: asyncpg.Pool, start: date, end: date, period: str) -> Adoption:
    if period not in ("day", "week"):
        raise InsightError(f"period: {period!r} is not day or week")
    async with pool.acquire() as connection:
        rows = await insights_repo.adoption(connection, start, end, period)
        seats = await seats_repo.seat_use(connection, start, end, REGISTRY.tool_sources())
    held: dict[str, int] = {}
    for seat in seats:
        held[seat.tool] = held.get(seat.tool, 0) + 1
    return Adoption(rows, held)


@dataclass(frozen=True)
class Seat:
    tool: str
    account: str
    seat: str
    email: str | None
    plan: str | None
    since: date | None
    last_active: date | None
    active_days: int
    status: SeatStatus
    monthly_price_usd: Decimal | None


@dataclass
class SeatReport:
    start: date
    end: date
    seats: list[Seat] = field(default_factory=list)

    def reclaimable_usd(self) -> Decimal:
        """What the idle seats with a known price cost a month."""
        return sum(
            (s.monthly_price_usd for s in self.seats
             if s.status is SeatStatus.IDLE and s.monthly_price_usd is not None),
            Decimal(0),
        )  # fmt: skip

    def idle_everywhere(self) -> list[str]:
        """People who hold seats and use none of them (every seat idle; none without data)."""
        by_person: dict[str, set[SeatStatus]] = {}
        for seat in self.seats:
            if seat.email:
                by_person.setdefault(seat.email, set()).add(seat.status)
        return sorted(p for p, found in by_person.items() if found == {SeatStatus.IDLE})


def seat_window(settings: Settings, as_of: date) -> tuple[date, date]:
    """The days a seat is judged over: the IDLE_SEAT_DAYS up to `as_of`."""
    return as_of - timedelta(days=settings.idle_seat_days - 1), as_of


async def seats(pool: asyncpg.Pool, settings: Settings, as_of: date) -> SeatReport:
    """Every seat of every tool, judged over the IDLE_SEAT_DAYS up to `as_of`."""
    window = settings.idle_seat_days
    start, _ = seat_window(settings, as_of)
    async with pool.acquire() as connection:
        # Kept by the rollup refresher for the window ending yesterday; any other, read now.
        found = await seats_repo.stored_seat_use(connection, start, as_of)
        if found is None:
            found = await seats_repo.seat_use(connection, start, as_of, REGISTRY.tool_sources())
    found.sort(key=lambda use: (use.tool, use.account, use.seat))
    report = SeatReport(start, as_of)
    for use in found:
        status = seat_status(
            fetched_days=use.fetched_days, since=use.since, active_days=use.active_days,
            as_of=as_of, window_days=window, light_days=settings.light_seat_days,
        )  # fmt: skip
        price = seat_price(settings.seat_prices_usd, use.tool, use.plan)
        seat = Seat(
            use.tool, use.account, use.seat, use.email, use.plan, use.since, use.last_active,
            use.active_days, status, price,
        )  # fmt: skip
        report.seats.append(seat)
    return report
