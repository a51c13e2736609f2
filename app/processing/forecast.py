"""Month-end projections from daily spend (pure functions, exact `Decimal`).

The rest of a month is projected day by day from the same weekday's mean over the last four
weeks (weekends spend differently), with a 90 % range from the spread of those days around
their weekday's mean, widened as √(days left). A weekday mean and its spread are a few lines;
statsmodels' exponential smoothing would bring numpy, scipy and pandas (and floats) into a
service whose money is `Decimal`, for a series of 28 points. `backtest` measures the error on
known months (docs/answers.md reports it).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

HISTORY_DAYS = 28
Z_90 = Decimal("1.645")  # a two-sided 90 % range of a normal spread
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Forecast:
    month: date  # its first day
    as_of: date  # the last day counted as spent
    month_to_date: Decimal
    projected: Decimal  # month to date + the rest of the month
    low: Decimal
    high: Decimal
    budget: Decimal | None = None
    exhausted_on: date | None = None  # the day the budget is (projected to be) spent

    @property
    def projected_share(self) -> Decimal | None:
        return None if self.budget is None else self.projected / self.budget


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def weekday_means(daily: Mapping[date, Decimal], as_of: date) -> tuple[dict[int, Decimal], Decimal]:
    """Each weekday's mean over the HISTORY_DAYS up to `as_of` (a day without spend is 0),
    and the standard deviation of the days around their weekday's mean."""
    history = _days(as_of - timedelta(days=HISTORY_DAYS - 1), as_of)
    by_weekday: dict[int, list[Decimal]] = {}
    for day in history:
        by_weekday.setdefault(day.weekday(), []).append(daily.get(day, Decimal(0)))
    means = {
        weekday: sum(values, Decimal(0)) / len(values) for weekday, values in by_weekday.items()
    }
    squares = [(daily.get(day, Decimal(0)) - means[day.weekday()]) ** 2 for day in history]
    spread = (sum(squares, Decimal(0)) / max(1, len(squares) - len(means))).sqrt()
    return means, spread


def forecast_month(
    daily: Mapping[date, Decimal], month: date, as_of: date, budget: Decimal | None = None
) -> Forecast:
    """The month of `month` projected from what was spent up to `as_of` (inclusive)."""
    first, last = month.replace(day=1), month_end(month)
    as_of = min(max(as_of, first - timedelta(days=1)), last)
    spent = sum((daily.get(day, Decimal(0)) for day in _days(first, as_of)), Decimal(0))
    rest = _days(as_of + timedelta(days=1), last)
    means, spread = weekday_means(daily, as_of)
    projected_days = [(day, means.get(day.weekday(), Decimal(0))) for day in rest]
    projected = spent + sum((value for _, value in projected_days), Decimal(0))
    margin = Z_90 * spread * Decimal(len(rest)).sqrt() if rest else Decimal(0)
    exhausted = _exhausted_on(daily, first, as_of, projected_days, budget)
    return Forecast(
        first, as_of, spent.quantize(CENT), projected.quantize(CENT),
        max(spent, projected - margin).quantize(CENT), (projected + margin).quantize(CENT),
        budget, exhausted,
    )  # fmt: skip


def _exhausted_on(
    daily: Mapping[date, Decimal],
    first: date,
    as_of: date,
    projected: Sequence[tuple[date, Decimal]],
    budget: Decimal | None,
) -> date | None:
    if budget is None:
        return None
    total = Decimal(0)
    steps = [(day, daily.get(day, Decimal(0))) for day in _days(first, as_of)] + list(projected)
    for day, value in steps:
        total += value
        if total >= budget:
            return day
    return None


@dataclass(frozen=True)
class BacktestPoint:
    month: date
    as_of: date
    actual: Decimal
    projected: Decimal
    within_range: bool

    @property
    def error(self) -> Decimal:
        """|projected − actual| ÷ actual."""
        return abs(self.projected - self.actual) / self.actual if self.actual else Decimal(0)


def backtest(
    daily: Mapping[date, Decimal], months: Sequence[date], cut_days: Sequence[int] = (7, 14, 21)
) -> list[BacktestPoint]:
    """Each month projected from its first `cut` days (and the weeks before), against what it
    turned out to be."""
    points = []
    for month in months:
        first, last = month.replace(day=1), month_end(month)
        actual = sum((daily.get(day, Decimal(0)) for day in _days(first, last)), Decimal(0))
        for cut in cut_days:
            result = forecast_month(daily, first, first + timedelta(days=cut - 1))
            inside = result.low <= actual <= result.high
            points.append(BacktestPoint(first, result.as_of, actual, result.projected, inside))
    return points
