"""What the CLI shows people: a run's progress and outcome, the end-of-run summary and the
coverage calendar, as `Sheet`s any output mode prints (app.cli_format).

Built from typed records — the API's run resource (`RunOut`, which the local commands build
from the repository's record, so both print the same), `WindowSummary`, `CoverageDay` — never
from loose dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from rich.live import Live

from app.accounts import AccountSource
from app.cli_format import OutputMode, Printer, Sheet, rich_table
from app.repositories.reports import WindowSummary
from app.repositories.runs import SourceProgress
from app.vocabulary import COVERAGE_SYMBOLS, CoverageState

if TYPE_CHECKING:  # the API's modules import the metrics: not before the CLI settles them
    from app.api.coverage import CoverageDayOut, CoverageOut
    from app.api.schemas import RunOut

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
NUMBERS = frozenset(title for title, _ in PROGRESS_COLUMNS[1:])


def _name(progress: SourceProgress) -> str:
    return AccountSource(progress.account, progress.source).label


def progress_sheet(run_id: object, status: str, sources: Iterable[SourceProgress]) -> Sheet:
    """One line per source; errors are printed in full after the run."""
    rows = [
        (f"{p.days_done}/{p.days_total}", _name(p),
         *(str(getattr(p, key)) for _, key in PROGRESS_COLUMNS))
        for p in sources
    ]  # fmt: skip
    columns = ("days", "source", *(title for title, _ in PROGRESS_COLUMNS))
    return Sheet(f"run {run_id} — {status}", columns, rows, right=NUMBERS)


def summary_lines(summary: WindowSummary) -> list[str]:
    cursor = summary.cursor
    return [
        f"fact_cursor_daily_usage: {cursor.people} people, "
        f"{cursor.active_days} active person-days, "
        f"{cursor.accepted_lines_added} accepted lines, {cursor.agent_requests} agent requests, "
        f"{cursor.billable_requests:,.1f} billable request units"
    ]


def summary_sheet(summary: WindowSummary) -> Sheet:
    cursor, copilot = summary.cursor, summary.copilot
    rows = [("cursor", "cursor", str(cursor.people), f"{cursor.tokens:,}",
             f"{cursor.charged_cost_usd:.2f}", "—", "—")]  # fmt: skip
    rows += [
        ("claude", row.platform, str(row.people), f"{row.tokens:,}",
         f"{row.billed_cost_usd:.2f}", f"{row.estimated_cost_usd:.2f}", "—")
        for row in summary.claude
    ]  # fmt: skip
    if copilot.people:
        billed, consumed = f"{copilot.billed_cost_usd:.2f}", f"{copilot.consumption_usd:.2f}"
        rows.append(("copilot", "copilot", str(copilot.people), "—", billed, "—", consumed))
    columns = ("tool", "platform", "people", "tokens", "billed USD", "estimated USD",
               "consumption USD")  # fmt: skip
    return Sheet(
        "Cost by tool (Cursor usage events; Claude through claude_usage_by_user_day;"
        " Copilot billing lines, and its AI credits as consumption)",
        columns, rows, right=frozenset(columns[2:]),
    )  # fmt: skip


def outcome_lines(status: str, sources: Iterable[SourceProgress]) -> list[str]:
    """The run's status, then each source's error, warnings and skipped rows, in full."""
    lines = [f"Run {status}."]
    for source in sources:
        name = _name(source)
        if source.last_error:
            lines.append(f"  {name}: {source.last_error}")
        lines += [f"  {name} warning: {warning}" for warning in source.warnings]
        lines += [
            f"  {name}: {rows} row(s) skipped ({reason})"
            for reason, rows in source.skipped_by_reason.items()
        ]
    return lines


STATE_COLOUR = {
    CoverageState.FINAL: "green",
    CoverageState.PROVISIONAL: "yellow",
    CoverageState.FAILED: "red",
    CoverageState.MISSING: "bright_black",
}


def coverage_sheet(answer: CoverageOut) -> Sheet:
    """Accounts' sources × days, one symbol a day, and each one's count per state."""
    dates = [answer.start + timedelta(days=n) for n in range((answer.end - answer.start).days + 1)]
    by_part: dict[tuple[str, str], dict[date, CoverageState]] = {}
    for entry in answer.days:
        by_part.setdefault((entry.account, entry.source), {})[entry.day] = entry.state
    rows = [
        (
            AccountSource(account, source).label,
            *(COVERAGE_SYMBOLS[states.get(day, CoverageState.MISSING)] for day in dates),
            *(str(answer.counts[account][source][state]) for state in CoverageState),
        )
        for (account, source), states in by_part.items()
    ]
    return Sheet(
        f"coverage {answer.start} → {answer.end}",
        ("source", *(f"{day.day:02d}" for day in dates), *(state.value for state in CoverageState)),
        rows,
        styles={COVERAGE_SYMBOLS[state]: colour for state, colour in STATE_COLOUR.items()},
        right=frozenset(state.value for state in CoverageState),
        caption="  ".join(f"{COVERAGE_SYMBOLS[state]} {state.value}" for state in CoverageState),
    )


def standing_errors(answer: CoverageOut) -> list[str]:
    """Each source's latest failure in the window, in full (a calendar cell cannot hold it)."""
    latest: dict[tuple[str, str], CoverageDayOut] = {}
    for entry in answer.days:
        if entry.state is CoverageState.FAILED and entry.last_error:
            latest[entry.account, entry.source] = entry
    return [
        f"{AccountSource(account, source).label} failed {entry.day}: {entry.last_error}"
        for (account, source), entry in latest.items()
    ]


class RunView:
    """A run followed to its end in the printer's mode: a live table on a terminal, a line per
    source whose status or day count changed in plain, a JSON line per change in json; then
    the outcome (and what landed, when the summary is known)."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self._live: Live | None = None
        self._seen: dict[tuple[str, str], tuple[str, int]] = {}

    def __enter__(self) -> RunView:
        if self.printer.mode is OutputMode.TABLE:
            self._live = Live(console=self.printer.console, refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_live()

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, run: RunOut) -> None:
        progress = [source.to_progress() for source in run.progress]
        if self._live is not None:
            self._live.update(rich_table(progress_sheet(run.id, run.status, progress)))
            return
        changed = [
            p for p in progress if self._seen.get((p.account, p.source)) != (p.status, p.days_done)
        ]
        self._seen |= {(p.account, p.source): (p.status, p.days_done) for p in changed}  # fmt: skip
        if not changed:
            return
        if self.printer.mode is OutputMode.JSON:
            self.printer.event("progress", run=run)
            return
        self.printer.lines([
            f"run {run.id} {_name(p)} {p.status} days {p.days_done}/{p.days_total}"
            + "".join(f" {title} {getattr(p, key)}" for title, key in PROGRESS_COLUMNS[1:])
            for p in changed
        ])  # fmt: skip

    def finished(self, run: RunOut, summary: WindowSummary | None = None) -> None:
        progress = [source.to_progress() for source in run.progress]
        if self._live is not None:
            self._live.update(rich_table(progress_sheet(run.id, run.status, progress)))
        self._stop_live()
        if self.printer.mode is OutputMode.JSON:
            self.printer.event("finished", run=run, summary=summary)
            return
        if self.printer.mode is OutputMode.PLAIN:
            self.update(run)  # the last changes, before the outcome
        if summary is not None:
            self.printer.lines(summary_lines(summary))
            self.printer.sheet(summary_sheet(summary))
        self.printer.lines(outcome_lines(run.status, progress))
