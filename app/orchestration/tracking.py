"""Per-source progress of a run's part, flushed to PostgreSQL while the part goes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, date, datetime

import asyncpg

from app import metrics
from app.accounts import DEFAULT_ACCOUNT
from app.ingestion.http import RequestStats
from app.logs import get_logger
from app.repositories import runs as runs_repo
from app.repositories.database import DATABASE_ERRORS
from app.repositories.day_writer import WriteCounts
from app.repositories.run_parts import heartbeat_part
from app.repositories.runs import SourceProgress
from app.vocabulary import SourceStatus

log = get_logger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0
MAX_WARNINGS = 100  # a run's progress row stays small whatever goes wrong


class RunCancelled(Exception):
    """Raised at a page boundary once the run has been asked to stop."""


class Cancellation:
    """Asks a run to stop at its next page boundary, and says why."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = "cancelled"

    def request(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


class SourceTracker:
    """Progress + request counters of one source."""

    def __init__(
        self, source: str, target_table: str, days_total: int, account: str = DEFAULT_ACCOUNT
    ) -> None:
        self.progress = SourceProgress(
            source=source, target_table=target_table, days_total=days_total, account=account
        )
        self.stats = RequestStats()
        self.kept_days: set[date] = set()

    def kept(self, day: date) -> None:
        """A day the shrink guard kept: it came back empty beside days with rows, and holds
        rows of its own. Said once per run (`warn_kept`), not once per day."""
        self.kept_days.add(day)

    def finish_warnings(self) -> None:
        """What the source saw that it says once, at its end: kept days and upstream drift."""
        self.warn_kept()
        for notice in self.stats.drift.values():
            self.warn(f"{notice}: the endpoint is being retired; see the upstream's changelog")
        self.stats.drift.clear()

    def warn_kept(self) -> None:
        if not self.kept_days:
            return
        days = sorted(self.kept_days)
        shown = ", ".join(map(str, days[:31])) + (
            f" and {len(days) - 31} more" if len(days) > 31 else ""
        )
        self.warn(
            f"{len(days)} day(s) came back empty while other days of the same answer had rows,"
            f" and were kept as they were (ALLOW_EMPTY_DAY_REPLACEMENT=true applies such days):"
            f" {shown}"
        )
        self.kept_days.clear()

    def page(self, rows: int, *, continued: bool = False) -> None:
        """Rows of a page; a part continuing the page before is not another page."""
        if not continued:
            self.progress.pages += 1
        self.progress.rows_fetched += rows

    def skipped(self, reason: str, rows: int = 1) -> None:
        self.progress.rows_skipped += rows
        by_reason = self.progress.skipped_by_reason
        by_reason[reason] = by_reason.get(reason, 0) + rows

    def warn(self, message: str) -> None:
        """Something the run did not apply or could not trust; the source still succeeds."""
        if len(self.progress.warnings) < MAX_WARNINGS:
            self.progress.warnings.append(message)
        log.warning("source warning", source=self.progress.source, warning=message)

    def written(self, counts: WriteCounts, days: int = 1) -> None:
        self.progress.rows_inserted += counts.inserted
        self.progress.rows_updated += counts.updated
        self.progress.rows_unchanged += counts.unchanged
        self.progress.rows_deleted += counts.deleted
        self.progress.days_done += days
        metrics.record_rows(
            self.progress.target_table,
            counts.inserted,
            counts.updated,
            counts.unchanged,
            counts.deleted,
        )

    def snapshot(self) -> SourceProgress:
        self.progress.retries = self.stats.retries
        self.progress.rate_limit_waits = self.stats.rate_limit_waits
        self.progress.rate_limit_wait_seconds = round(self.stats.rate_limit_wait_seconds, 3)
        return self.progress


class RunTracker:
    """Owns one part's source trackers, its heartbeat and the cancel signal."""

    def __init__(
        self, pool: asyncpg.Pool, run_id: uuid.UUID, cancel: Cancellation, part_no: int = 0
    ) -> None:
        self.pool = pool
        self.run_id = run_id
        self.part_no = part_no
        self.cancel = cancel
        self.sources: dict[str, SourceTracker] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, tracker: SourceTracker) -> SourceTracker:
        self.sources[tracker.progress.source] = tracker
        return tracker

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise RunCancelled(self.cancel.reason)

    async def start(self) -> None:
        """The part's sources' rows (created with the run) take their first progress, and the
        heartbeat starts."""
        await self.flush()
        self._task = asyncio.create_task(
            self._loop(), name=f"run-tracker-{self.run_id}-{self.part_no}"
        )

    async def flush(self) -> None:
        async with self.pool.acquire() as connection:
            for tracker in self.sources.values():
                await runs_repo.save_progress(connection, self.run_id, tracker.snapshot())
            if await heartbeat_part(connection, self.run_id, self.part_no):
                self.cancel.request("cancelled by request")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
            try:
                await self.flush()
            except DATABASE_ERRORS as exc:
                # The run itself will notice a dead database; progress catches up later.
                log.warning("progress flush failed", error=type(exc).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except DATABASE_ERRORS as exc:
            # The outcome is persisted (with retries) by the caller; do not lose it here.
            log.warning("final progress flush failed", error=type(exc).__name__)

    def mark_started(self, tracker: SourceTracker) -> None:
        tracker.progress.status = SourceStatus.RUNNING
        tracker.progress.started_at = datetime.now(UTC)

    def mark_finished(
        self, tracker: SourceTracker, status: SourceStatus, error: str | None = None
    ) -> None:
        tracker.progress.status = status
        tracker.progress.finished_at = datetime.now(UTC)
        if error is not None:
            tracker.progress.last_error = error
