"""What the CLI shows people: run progress, the end-of-run summary and the source list.

Tables are built from typed records (a run from the repository or the API's run resource
parsed into its schema), never from loose dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from rich.console import Console
from rich.table import Table

from app.repositories.reports import WindowSummary

console = Console(stderr=True)
output = Console()


class ProgressLine(Protocol):
    """One source's progress: the repository's `SourceProgress` or the API's schema of it
    (read-only, so either's field types fit)."""

    @property
    def source(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def days_done(self) -> int: ...

    @property
    def days_total(self) -> int: ...

    @property
    def pages(self) -> int: ...

    @property
    def rows_fetched(self) -> int: ...

    @property
    def rows_inserted(self) -> int: ...

    @property
    def rows_updated(self) -> int: ...

    @property
    def rows_unchanged(self) -> int: ...

    @property
    def rows_deleted(self) -> int: ...

    @property
    def retries(self) -> int: ...


PROGRESS_COLUMNS = (
    ("source", "source"),
    ("status", "status"),
    ("pages", "pages"),
    ("fetched", "rows_fetched"),
    ("inserted", "rows_inserted"),
    ("updated", "rows_updated"),
    ("unchanged", "rows_unchanged"),
    ("deleted", "rows_deleted"),
    ("retries", "retries"),
)


def progress_table(run_id: object, status: str, sources: Iterable[ProgressLine]) -> Table:
    """One line per source; errors are printed in full after the run."""
    table = Table(title=f"run {run_id} — {status}")
    table.add_column("days")
    for title, _ in PROGRESS_COLUMNS:
        table.add_column(title, no_wrap=True)
    for source in sources:
        days = f"{source.days_done}/{source.days_total}"
        table.add_row(days, *(str(getattr(source, key)) for _, key in PROGRESS_COLUMNS))
    return table


def print_summary(summary: WindowSummary) -> None:
    cursor = summary.cursor
    output.print(
        f"fact_cursor_daily_usage: {cursor.people} people, "
        f"{cursor.active_days} active person-days, "
        f"{cursor.accepted_lines_added} accepted lines, {cursor.agent_requests} agent requests"
    )
    table = Table(title="fact_claude_daily_usage (through claude_usage_by_user_day)")
    for column in ("platform", "people", "tokens", "billed USD", "estimated USD"):
        table.add_column(column, justify="right")
    for row in summary.claude:
        table.add_row(
            row.platform,
            str(row.people),
            f"{row.tokens:,}",
            f"{row.billed_cost_usd:.2f}",
            f"{row.estimated_cost_usd:.2f}",
        )
    output.print(table)


def print_errors(status: str, errors: Sequence[tuple[str, str | None]]) -> None:
    output.print(f"Run {status}.")
    for source, error in errors:
        if error:
            output.print(f"  {source}: {error}", markup=False)
