"""What the CLI shows people: run progress, the end-of-run summary and the source list.

Tables are built from typed records (the repository's `SourceProgress`, which the demo gets
from the API's run resource), never from loose dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from rich.console import Console
from rich.table import Table

from app.accounts import AccountSource
from app.repositories.coverage import CoverageDay, count_states
from app.repositories.reports import WindowSummary
from app.repositories.runs import SourceProgress
from app.vocabulary import CoverageState

console = Console(stderr=True)
output = Console()


PROGRESS_COLUMNS = (
    ("status", "status"),
    ("pages", "pages"),
    ("fetched", "rows_fetched"),
    ("inserted", "rows_inserted"),
    ("updated", "rows_updated"),
    ("unchanged", "rows_unchanged"),
    ("deleted", "rows_deleted"),
    ("retries", "retries"),
)


def progress_table(run_id: object, status: str, sources: Iterable[SourceProgress]) -> Table:
    """One line per source; errors are printed in full after the run."""
    table = Table(title=f"run {run_id} — {status}")
    table.add_column("days")
    table.add_column("source", no_wrap=True)
    for title, _ in PROGRESS_COLUMNS:
        table.add_column(title, no_wrap=True)
    for source in sources:
        days = f"{source.days_done}/{source.days_total}"
        table.add_row(
            days, _name(source), *(str(getattr(source, key)) for _, key in PROGRESS_COLUMNS)
        )
    return table


def _name(progress: SourceProgress) -> str:
    return AccountSource(progress.account, progress.source).label


def print_summary(summary: WindowSummary) -> None:
    cursor = summary.cursor
    output.print(
        f"fact_cursor_daily_usage: {cursor.people} people, "
        f"{cursor.active_days} active person-days, "
        f"{cursor.accepted_lines_added} accepted lines, {cursor.agent_requests} agent requests, "
        f"{cursor.billable_requests:,.1f} billable request units"
    )
    table = Table(
        title="Cost by tool (Cursor usage events; Claude through claude_usage_by_user_day;"
        " Copilot billing lines, and its AI credits as consumption)"
    )
    for column in ("tool", "platform", "people", "tokens", "billed USD", "estimated USD",
                   "consumption USD"):  # fmt: skip
        table.add_column(column, justify="right")
    table.add_row(
        "cursor", "cursor", str(cursor.people), f"{cursor.tokens:,}",
        f"{cursor.charged_cost_usd:.2f}", "—", "—",
    )  # fmt: skip
    for row in summary.claude:
        table.add_row(
            "claude", row.platform, str(row.people), f"{row.tokens:,}",
            f"{row.billed_cost_usd:.2f}", f"{row.estimated_cost_usd:.2f}", "—",
        )  # fmt: skip
    copilot = summary.copilot
    if copilot.people:
        table.add_row(
            "copilot", "copilot", str(copilot.people), "—", f"{copilot.billed_cost_usd:.2f}",
            "—", f"{copilot.consumption_usd:.2f}",
        )  # fmt: skip
    output.print(table)


def print_outcome(status: str, sources: Iterable[SourceProgress]) -> None:
    """The run's status, then each source's error, warnings and skipped rows, in full."""
    output.print(f"Run {status}.")
    for source in sources:
        name = _name(source)
        if source.last_error:
            output.print(f"  {name}: {source.last_error}", markup=False)
        for warning in source.warnings:
            output.print(f"  {name} warning: {warning}", markup=False)
        for reason, rows in source.skipped_by_reason.items():
            output.print(f"  {name}: {rows} row(s) skipped ({reason})", markup=False)


STATE_STYLE = {
    CoverageState.FINAL: ("■", "green"),
    CoverageState.PROVISIONAL: ("■", "yellow"),
    CoverageState.FAILED: ("■", "red"),
    CoverageState.MISSING: ("·", "bright_black"),
}


def coverage_calendar(days: Sequence[CoverageDay], start: date, end: date) -> Table:
    """Accounts' sources × days, one coloured cell a day, and each one's count per state."""
    dates = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    table = Table(title=f"coverage {start} → {end}", show_lines=False, pad_edge=False)
    table.add_column("source", no_wrap=True)
    for day in dates:
        table.add_column(f"{day.day:02d}", justify="center", no_wrap=True, min_width=2)
    for state in CoverageState:
        table.add_column(state.value, justify="right", no_wrap=True)
    by_part: dict[AccountSource, dict[date, CoverageState]] = {}
    for entry in days:
        by_part.setdefault(AccountSource(entry.account, entry.source), {})[entry.day] = entry.state
    totals = count_states(days, list(by_part))
    for part, states in by_part.items():
        cells = []
        for day in dates:
            symbol, colour = STATE_STYLE[states.get(day, CoverageState.MISSING)]
            cells.append(f"[{colour}]{symbol}[/]")
        counts = [str(totals[part][state]) for state in CoverageState]
        table.add_row(part.label, *cells, *counts)
    table.caption = "  ".join(
        f"[{colour}]{symbol}[/] {state.value}" for state, (symbol, colour) in STATE_STYLE.items()
    )
    return table
