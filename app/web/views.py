"""Page data into what templates draw: chart series, calendars, seat groups (no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from markupsafe import Markup

from app.accounts import AccountSource
from app.orchestration.dashboard import Overview, Person
from app.orchestration.insights import SeatReport
from app.repositories.coverage import CoverageDay
from app.vocabulary import COVERAGE_SYMBOLS, CoverageState
from app.web.charts import Series, lines, stacked_bars

ZERO = Decimal(0)
# Each state with a symbol as well as a colour (colour alone fails colour-blind readers).
STATE_SYMBOLS = COVERAGE_SYMBOLS
SEAT_ORDER = ("idle", "light", "new", "active", "no_data")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def overview_charts(o: Overview, nonce: str) -> dict[str, Markup]:
    days = _days(o.month, o.through) if o.through >= o.month else []
    labels = [day.strftime("%d") for day in days]
    keys = sorted({(row.tool, row.platform) for row in o.daily})
    final: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    pending: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    for row in o.daily:
        target = pending if row.day in o.provisional_days else final
        target[(row.tool, row.platform)][row.day] = row.billed_usd
    series = []
    for hue, key in enumerate(keys):
        name = key[0] if key[0] == key[1] else f"{key[0]} · {key[1]}"
        series.append(Series(name, [final[key].get(day) for day in days], hue))
        if any(pending[key].values()):
            series.append(
                Series(f"{name} (provisional)", [pending[key].get(d) for d in days], hue, True)
            )
    spend = stacked_bars("Billed USD per day", labels, series, nonce)
    return {"spend": spend, "month": _month_chart(o, days, nonce),
            "adoption": _adoption_chart(o, nonce)}  # fmt: skip


def _month_chart(o: Overview, days: list[date], nonce: str) -> Markup:
    """Month to date, against the forecast's range and the organisation's budget."""
    running: list[Decimal | None] = []
    total = ZERO
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for row in o.daily:
        by_day[row.day] += row.billed_usd
    for day in days:
        total += by_day.get(day, ZERO)
        running.append(total)
    month_days = _days(o.month, o.forecast.month.replace(day=28) + timedelta(days=4))
    month_days = [d for d in month_days if d.month == o.month.month]
    all_labels = [day.strftime("%d") for day in month_days]
    pad: list[Decimal | None] = [None] * (len(month_days) - len(running))
    lead: list[Decimal | None] = [None] * (len(month_days) - 1)
    series: dict[str, Sequence[Decimal | int | None]] = {
        "billed to date": running + pad,
        "forecast": [*lead, o.forecast.projected],
        "forecast low": [*lead, o.forecast.low],
        "forecast high": [*lead, o.forecast.high],
    }
    if o.forecast.budget is not None:
        series["budget"] = [o.forecast.budget] * len(month_days)
    return lines("Month to date, billed USD", all_labels, series, nonce)


def _adoption_chart(o: Overview, nonce: str) -> Markup:
    weeks = sorted({row.week for row in o.adoption})
    tools = sorted({row.tool for row in o.adoption})
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for row in o.adoption:
        counts[(row.week, row.tool)] += row.active_people
    series = {tool: [counts.get((week, tool), 0) for week in weeks] for tool in tools}
    labels = [week.strftime("%d %b") for week in weeks]
    return lines("People active per week", labels, series, nonce)


def person_chart(p: Person, nonce: str) -> Markup:
    days = _days(p.month, p.through) if p.through >= p.month else []
    keys = sorted({(row.tool, row.platform) for row in p.days})
    table = p.by_day()
    series = [
        Series(
            key[0] if key[0] == key[1] else f"{key[0]} · {key[1]}",
            [(r.billed_usd + r.estimated_usd) if (r := table.get(d, {}).get(key)) else None
             for d in days],
            hue,
        )
        for hue, key in enumerate(keys)
    ]  # fmt: skip
    labels = [day.strftime("%d") for day in days]
    return stacked_bars("Billed and estimated USD per day", labels, series, nonce)


@dataclass(frozen=True)
class CoverageRow:
    account: str
    source: str
    cells: list[CoverageDay | None]
    counts: dict[str, int]

    @property
    def last_fetch(self) -> CoverageDay | None:
        """The day fetched last (its time and rows; the latest day of one fetch)."""
        fetched = [((cell.last_fetched_at, cell.day), cell) for cell in self.cells
                   if cell is not None and cell.last_fetched_at is not None]  # fmt: skip
        return max(fetched, key=lambda pair: pair[0])[1] if fetched else None

    @property
    def last_failure(self) -> CoverageDay | None:
        """The day whose fetch failed last, if its error stands (the day is not fetched since)."""
        failed = [(cell.last_failed_at, cell) for cell in self.cells
                  if cell is not None and cell.state == CoverageState.FAILED
                  and cell.last_failed_at is not None]  # fmt: skip
        return max(failed, key=lambda pair: pair[0])[1] if failed else None


@dataclass(frozen=True)
class CoverageGrid:
    days: list[date]
    rows: list[CoverageRow]


def coverage_grid(
    found: Sequence[CoverageDay], parts: Sequence[AccountSource], first: date, last: date
) -> CoverageGrid:
    days = _days(first, last) if last >= first else []
    cells = {(d.account, d.source, d.day): d for d in found}
    rows = []
    for part in parts:
        row = [cells.get((part.account, part.source, day)) for day in days]
        counts: dict[str, int] = defaultdict(int)
        for cell in row:
            counts[cell.state if cell else CoverageState.MISSING] += 1
        rows.append(CoverageRow(part.account, part.source, row, dict(counts)))
    return CoverageGrid(days, rows)


def seat_groups(report: SeatReport) -> list[tuple[str, list[object]]]:
    """The seats by status, idle first; "no data" last and apart (its use is unknown)."""
    grouped: dict[str, list[object]] = defaultdict(list)
    for seat in report.seats:
        grouped[seat.status].append(seat)
    return [(status, grouped[status]) for status in SEAT_ORDER if grouped.get(status)]
