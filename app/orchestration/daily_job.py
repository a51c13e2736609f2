"""One ingestion run: fetch → process → write, every source at once.

Each source streams pages, turns them into fact rows and writes each (source, day) in one
transaction as soon as that day is complete, so fetching and writing overlap and memory stays
bounded. Sources run concurrently; one failing (after its retries) does not stop the others.

Cost allocation needs the messages usage and the cost report of the same day: the two sources
meet in a `BillingJoin`, which writes a day as soon as both halves of it have arrived (usage
rows with their allocated cost and the residual cost rows, in one transaction). Without a cost
report the usage rows are written keeping the cost an earlier run allocated.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import stamina
import structlog

from app import metrics
from app.config import ALL_SOURCES, Settings, SourceName
from app.ingestion.factory import UpstreamClients
from app.ingestion.http import RequestStats, UpstreamError
from app.ingestion.models import ApiKey, CostResult, MessagesUsageResult
from app.ingestion.pagination import Page, prefetched
from app.logs import get_logger
from app.orchestration.tracking import Cancellation, RunCancelled, RunTracker, SourceTracker
from app.processing import transform
from app.processing.attribution import AttributionDirectory, KeyInfo, build_directory
from app.processing.categorization import WorkspaceCategories
from app.processing.cost_allocation import CostLine
from app.processing.facts import ClaudeFact, ClaudeSource, fold_duplicates
from app.repositories import directory as directory_repo
from app.repositories import runs as runs_repo
from app.repositories.database import DATABASE_ERRORS
from app.repositories.facts import (
    CLAUDE_TABLE,
    CURSOR_TABLE,
    ClaudeDayWrite,
    CursorWindow,
    WriteCounts,
    replace_claude_days,
)

R = TypeVar("R")
log = get_logger(__name__)

ADMIN_SOURCES: tuple[SourceName, ...] = ("claude_code", "claude_usage", "claude_cost")


class SourceNotConfigured(ValueError):
    pass


def default_window(settings: Settings, today: date | None = None) -> tuple[date, date]:
    """The last LOOKBACK_DAYS complete UTC days."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=settings.lookback_days), today - timedelta(days=1)


def resolve_sources(settings: Settings, requested: Sequence[str] | None) -> list[SourceName]:
    """Requested sources (default: all configured), canonical order. Cost allocation needs the
    usage report, so `claude_cost` brings `claude_usage` along."""
    configured = settings.configured_sources()
    wanted = set(requested) if requested else set(configured)
    unknown = wanted - set(ALL_SOURCES)
    if unknown:
        raise SourceNotConfigured(f"unknown source(s): {', '.join(sorted(unknown))}")
    missing = wanted - set(configured)
    if missing:
        raise SourceNotConfigured(
            f"source(s) not configured: {', '.join(sorted(missing))} (set their API keys)"
        )
    if "claude_cost" in wanted:
        wanted.add("claude_usage")
    return [source for source in ALL_SOURCES if source in wanted]


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


@dataclass(frozen=True)
class RunSpec:
    """What one run does: a window of UTC days and a set of sources."""

    run_id: uuid.UUID
    start: date
    end: date
    sources: tuple[SourceName, ...]
    trigger: str = "cli"


@dataclass
class RunOutcome:
    status: str
    reason: str | None
    sources: dict[str, runs_repo.SourceProgress] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaudeContext:
    directory: AttributionDirectory
    categories: WorkspaceCategories


class BillingJoin:
    """Meets usage and cost of the same day; writes the day once both halves are there."""

    def __init__(
        self,
        job: DailyJob,
        usage: SourceTracker,
        cost: SourceTracker | None,
    ) -> None:
        self._job = job
        self._usage = usage
        self._cost = cost
        self._pending_usage: dict[date, list[ClaudeFact]] = {}
        self._pending_cost: dict[date, list[CostLine]] = {}
        self.usage_failed = False
        self.cost_failed = cost is None  # no cost report requested: keep existing cost
        self.cost_finished = asyncio.Event()
        if cost is None:
            self.cost_finished.set()

    async def offer_usage(self, day: date, facts: list[ClaudeFact]) -> None:
        if self.cost_failed:
            await self._write(day, facts, None)
        elif day in self._pending_cost:
            await self._write(day, facts, self._pending_cost.pop(day))
        else:
            self._pending_usage[day] = facts

    async def offer_cost(self, day: date, lines: list[CostLine]) -> None:
        if self.usage_failed:
            raise UpstreamError(
                "cost not written: claude_usage failed, and cost is allocated to usage",
                upstream="anthropic",
                endpoint="cost_report",
            )
        if day in self._pending_usage:
            await self._write(day, self._pending_usage.pop(day), lines)
        else:
            self._pending_cost[day] = lines

    async def usage_done(self) -> None:
        """Usage stream ended: wait for the cost stream, then settle what is left."""
        await self.cost_finished.wait()
        for day in sorted(self._pending_usage):
            cost = None if self.cost_failed else self._pending_cost.pop(day, [])
            await self._write(day, self._pending_usage.pop(day), cost)
        for day in sorted(self._pending_cost):  # cost on a day the usage report has no rows for
            await self._write(day, [], self._pending_cost.pop(day))

    def fail_usage(self) -> None:
        self.usage_failed = True
        self._pending_cost.clear()

    def finish_cost(self, *, failed: bool) -> None:
        self.cost_failed = self.cost_failed or failed
        self.cost_finished.set()

    async def _write(
        self, day: date, usage: list[ClaudeFact], lines: list[CostLine] | None
    ) -> None:
        context = await self._job.claude_context()
        writes = [ClaudeDayWrite("usage_report", usage, keep_existing_cost=lines is None)]
        if lines is not None:
            residuals = transform.apply_cost(
                day, usage, lines, context.categories, context.directory
            )
            writes.append(ClaudeDayWrite("cost_report", residuals))
        counts = await self._job.write_claude_day(day, writes)
        self._usage.written(counts["usage_report"])
        if lines is not None and self._cost is not None:
            self._cost.written(counts["cost_report"])


class DailyJob:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        clients: UpstreamClients,
        settings: Settings,
        spec: RunSpec,
        cancel: Cancellation | None = None,
    ) -> None:
        self.pool = pool
        self.clients = clients
        self.settings = settings
        self.run_id = spec.run_id
        self.start = spec.start
        self.end = spec.end
        self.sources = list(spec.sources)
        self.days = days_between(spec.start, spec.end)
        self.tracker = RunTracker(pool, spec.run_id, cancel or Cancellation())
        # Rows that name their person (Cursor, claude.ai) need no upstream lists.
        self.direct_directory = build_directory(confidences=settings.confidences)
        self._context: asyncio.Task[ClaudeContext] | None = None

    # --- shared pieces --------------------------------------------------------------------

    async def claude_context(self) -> ClaudeContext:
        """Directory lists and key owners, fetched once per run and shared by every source."""
        if self._context is None:
            self._context = asyncio.create_task(self._load_context())
        return await asyncio.shield(self._context)

    async def _load_context(self) -> ClaudeContext:
        # Only the admin-key sources ask for it, so the admin client exists.
        anthropic = self.clients.anthropic
        assert anthropic is not None
        async with self.pool.acquire() as connection:
            owners = await directory_repo.key_owners(connection)
            persisted = await directory_repo.claude_code_workspace_ids(connection)
        stats = self._directory_stats()
        keys, users, workspaces = await asyncio.gather(
            anthropic.api_keys(stats), anthropic.users(stats), anthropic.workspaces(stats)
        )
        categories = WorkspaceCategories.build(
            configured_ids=self.settings.claude_code_workspace_ids,
            listed=[(workspace.id, workspace.name) for workspace in workspaces],
            persisted_ids=persisted,
        )
        async with self.pool.acquire() as connection:
            await directory_repo.remember_workspaces(
                connection,
                [
                    (w.id, w.name, w.archived_at, w.id in categories.claude_code_ids)
                    for w in workspaces
                ],
            )
        directory = build_directory(
            confidences=self.settings.confidences,
            users=[(user.id, user.email) for user in users],
            keys=[KeyInfo(key.id, key.name, key.workspace_id, _owner_user_id(key)) for key in keys],
            owners=[(o.api_key_id, o.key_name, o.owner_email) for o in owners],
        )
        return ClaudeContext(directory, categories)

    def _directory_stats(self) -> RequestStats:
        """The directory's requests count towards the first admin source of the run."""
        source = next(s for s in ADMIN_SOURCES if s in self.tracker.sources)
        return self.tracker.sources[source].stats

    async def write_claude_day(
        self, day: date, writes: list[ClaudeDayWrite]
    ) -> dict[ClaudeSource, WriteCounts]:
        folded = [
            ClaudeDayWrite(w.source, fold_duplicates(w.facts), w.keep_existing_cost) for w in writes
        ]
        async with self.pool.acquire() as connection:
            counts = await replace_claude_days(connection, day, folded, self.run_id)
        return counts

    async def _pages(
        self, tracker: SourceTracker, pages: AsyncIterator[Page[Any]]
    ) -> AsyncIterator[Page[Any]]:
        """Count pages and stop at a page boundary once the run is cancelled; the next page is
        fetched while this one is processed."""
        async for page in prefetched(pages):
            self.tracker.check_cancelled()
            tracker.page(len(page.items))
            yield page
            del page

    # --- the run ----------------------------------------------------------------------------

    async def run(self, worker_id: str) -> RunOutcome:
        target = {source: CLAUDE_TABLE for source in ALL_SOURCES} | {"cursor": CURSOR_TABLE}
        # claude.ai has up to two feeds (activity, analytics), each walking every day.
        feeds = (self.clients.compliance is not None) + (self.clients.analytics is not None)
        for source in self.sources:
            days_total = len(self.days) * (feeds if source == "claude_ai" else 1)
            self.tracker.add(SourceTracker(source, target[source], days_total))
        await self.tracker.start(worker_id)
        log.info(
            "run started",
            window_start=str(self.start),
            window_end=str(self.end),
            sources=self.sources,
        )
        billing: BillingJoin | None = None
        if "claude_usage" in self.sources:
            billing = BillingJoin(
                self, self.tracker.sources["claude_usage"], self.tracker.sources.get("claude_cost")
            )
        bodies: dict[str, Callable[[SourceTracker], Awaitable[None]]] = {
            "cursor": self._cursor,
            "claude_code": self._claude_code,
            "claude_ai": self._claude_ai,
        }
        if billing is not None:
            bodies["claude_usage"] = lambda t: self._claude_usage(t, billing)
            bodies["claude_cost"] = lambda t: self._claude_cost(t, billing)
        try:
            await asyncio.gather(
                *(self._guard(self.tracker.sources[s], bodies[s], billing) for s in self.sources)
            )
        finally:
            await self.tracker.stop()
        return self._outcome()

    async def _guard(
        self,
        tracker: SourceTracker,
        body: Callable[[SourceTracker], Awaitable[None]],
        billing: BillingJoin | None,
    ) -> None:
        source = tracker.progress.source
        structlog.contextvars.bind_contextvars(source=source)  # this task's context only
        self.tracker.mark_started(tracker)
        status, error = "succeeded", None
        try:
            await body(tracker)
        except RunCancelled as exc:
            status, error = "cancelled", f"{exc} before this source completed"
        except UpstreamError as exc:
            status, error = "failed", str(exc)
            tracker.progress.upstream_status = exc.status
        except DATABASE_ERRORS as exc:
            status, error = "failed", f"database error: {type(exc).__name__}: {exc}"
        except Exception as exc:
            log.exception("source crashed", source=source)
            status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        finally:
            if billing is not None and source == "claude_usage" and status != "succeeded":
                billing.fail_usage()
            if billing is not None and source == "claude_cost":
                billing.finish_cost(failed=status != "succeeded")
        if error is not None:
            error = error[:2000]
        self.tracker.mark_finished(tracker, status, error)
        log.info(
            "source finished",
            source=source,
            status=status,
            error=error,
            pages=tracker.progress.pages,
            rows_fetched=tracker.progress.rows_fetched,
            inserted=tracker.progress.rows_inserted,
            updated=tracker.progress.rows_updated,
            unchanged=tracker.progress.rows_unchanged,
            deleted=tracker.progress.rows_deleted,
            retries=tracker.stats.retries,
        )

    def _outcome(self) -> RunOutcome:
        progress = {name: tracker.snapshot() for name, tracker in self.tracker.sources.items()}
        usage, cost = progress.get("claude_usage"), progress.get("claude_cost")
        if usage and cost and usage.status == "failed" and cost.status == "succeeded":
            cost.status = "failed"
            cost.last_error = (
                "cost not fully written: claude_usage failed, and cost is allocated to usage"
            )
        statuses = {p.status for p in progress.values()}
        failed = sorted(name for name, p in progress.items() if p.status == "failed")
        if "cancelled" in statuses:
            return RunOutcome("cancelled", self.tracker.cancel.reason, progress)
        if not failed:
            return RunOutcome("succeeded", None, progress)
        reason = "; ".join(f"{name}: {progress[name].last_error}" for name in failed)
        return RunOutcome("failed" if len(failed) == len(progress) else "partial", reason, progress)

    # --- sources ------------------------------------------------------------------------------

    async def _cursor(self, tracker: SourceTracker) -> None:
        client = self.clients.cursor
        assert client is not None
        directory = self.direct_directory
        tracker.stats.start_budget(self.settings.upstream_source_time_budget_seconds)
        with CursorWindow() as window:
            pages = client.daily_usage(self.start, self.end, tracker.stats)
            async for page in self._pages(tracker, pages):
                facts = [transform.cursor_fact(row, directory) for row in page.items]
                kept = [fact for fact in facts if fact is not None]
                tracker.progress.rows_skipped += len(facts) - len(kept)
                window.add(kept)
                del facts, kept  # spooled: nothing of a page stays alive while the next downloads
                if page.last and page.window is not None:  # the chunk's days are complete
                    for day in days_between(*page.window):
                        async with self.pool.acquire() as connection:
                            tracker.written(await window.write_day(connection, day, self.run_id))
                    window.clear()
                del page

    async def _claude_code(self, tracker: SourceTracker) -> None:
        client = self.clients.anthropic
        assert client is not None
        tracker.stats.start_budget(self.settings.upstream_source_time_budget_seconds)
        context = await self.claude_context()
        for day in self.days:
            facts: list[ClaudeFact] = []
            async for page in self._pages(tracker, client.claude_code_day(day, tracker.stats)):
                if page.restarted:
                    facts = []
                for record in page.items:
                    facts.extend(transform.claude_code_facts(record, context.directory))
                del page  # not alive while the next one downloads or the day is written
            counts = await self.write_claude_day(
                day, [ClaudeDayWrite("claude_code_analytics", facts)]
            )
            tracker.written(counts["claude_code_analytics"])

    async def _by_day(
        self,
        tracker: SourceTracker,
        pages: AsyncIterator[Page[Any]],
        convert: Callable[[date, list[Any]], R],
    ) -> AsyncIterator[tuple[date, R]]:
        """Daily buckets (oldest first, possibly split across pages) → complete days, each
        converted before it is handed on, so a day's upstream models are freed before it is
        written while the next page downloads."""
        current: date | None = None
        results: list[Any] = []
        async for page in self._pages(tracker, pages):
            if page.restarted:
                current, results = None, []
            for bucket in page.items:
                day = bucket.starting_at.astimezone(UTC).date()
                if current is not None and day != current:
                    converted = convert(current, results)
                    results = []
                    yield current, converted
                    del converted
                current = day
                results.extend(bucket.results)
            del page
        if current is not None:
            converted = convert(current, results)
            results = []
            yield current, converted

    async def _claude_usage(self, tracker: SourceTracker, billing: BillingJoin) -> None:
        client = self.clients.anthropic
        assert client is not None
        tracker.stats.start_budget(self.settings.upstream_source_time_budget_seconds)
        context = await self.claude_context()

        def to_facts(day: date, results: list[MessagesUsageResult]) -> list[ClaudeFact]:
            facts = transform.usage_facts(day, results, context.directory, context.categories)
            return fold_duplicates(facts)

        pages = client.messages_usage(self.start, self.end, tracker.stats)
        async for day, facts in self._by_day(tracker, pages, to_facts):
            await billing.offer_usage(day, facts)
            del facts
        await billing.usage_done()

    async def _claude_cost(self, tracker: SourceTracker, billing: BillingJoin) -> None:
        client = self.clients.anthropic
        assert client is not None
        tracker.stats.start_budget(self.settings.upstream_source_time_budget_seconds)
        pages = client.cost_report(self.start, self.end, tracker.stats)

        def to_lines(day: date, results: list[CostResult]) -> list[CostLine]:
            return transform.cost_lines(results)

        async for day, lines in self._by_day(tracker, pages, to_lines):
            await billing.offer_cost(day, lines)
            del lines

    async def _claude_ai(self, tracker: SourceTracker) -> None:
        """The activity feed, then the analytics reports day by day, one page at a time.

        Fetched concurrently, claude.ai alone ran twice as fast over 30 days, but the full
        run's 30-day peak memory rose 15 % (python -m bench): its pages are the largest we hold.
        """
        tracker.stats.start_budget(self.settings.upstream_source_time_budget_seconds)
        directory = self.direct_directory
        if (compliance := self.clients.compliance) is not None:
            await self._activity(tracker, compliance, directory)
        if (analytics := self.clients.analytics) is not None:
            await self._analytics(tracker, analytics, directory)

    async def _analytics(
        self, tracker: SourceTracker, client: Any, directory: AttributionDirectory
    ) -> None:
        async def rows(report: AsyncIterator[Page[Any]]) -> list[Any]:
            return [row async for page in self._pages(tracker, report) for row in page.items]

        for day in self.days:
            usage = await rows(client.analytics_chat_usage(day, day, tracker.stats))
            cost = await rows(client.analytics_chat_cost(day, day, tracker.stats))
            facts = transform.analytics_facts(day, usage, cost, directory)
            counts = await self.write_claude_day(
                day, [ClaudeDayWrite("claude_ai_analytics", facts)]
            )
            tracker.written(counts["claude_ai_analytics"])

    async def _activity(
        self, tracker: SourceTracker, client: Any, directory: AttributionDirectory
    ) -> None:
        """The feed is newest first: a day is complete once an older day shows up. Events are
        counted page by page; only the day's per-person counts are kept."""
        current: date | None = None
        tally = transform.new_activity_tally()
        seen: set[date] = set()

        async def flush(day: date, counted: transform.ActivityTally) -> None:
            seen.add(day)
            facts = transform.activity_facts(day, counted, directory)
            counts = await self.write_claude_day(day, [ClaudeDayWrite("claude_ai_activity", facts)])
            tracker.written(counts["claude_ai_activity"])

        async for page in self._pages(
            tracker, client.compliance_activities(self.start, self.end, tracker.stats)
        ):
            same_day: list[Any] = []
            for activity in page.items:
                day = activity.created_at.astimezone(UTC).date()
                if current is not None and day != current:
                    transform.tally_activities(same_day, tally)
                    same_day = []
                    await flush(current, tally)
                    tally = transform.new_activity_tally()
                current = day
                same_day.append(activity)
            transform.tally_activities(same_day, tally)
        if current is not None:
            await flush(current, tally)
        for day in self.days:  # days without any event: nothing happened, say so
            if day not in seen:
                await flush(day, transform.new_activity_tally())


async def execute_run(
    *,
    pool: asyncpg.Pool,
    clients: UpstreamClients,
    settings: Settings,
    spec: RunSpec,
    worker_id: str,
    cancel: Cancellation | None = None,
) -> RunOutcome:
    """Execute a tracked run to its end and record the final status.

    If the task itself is cancelled (a shutdown deadline passed), open transactions roll back,
    so no day is half-written, and the run is recorded as `cancelled` before re-raising."""
    cancel = cancel or Cancellation()
    structlog.contextvars.bind_contextvars(run_id=str(spec.run_id))
    job = DailyJob(pool=pool, clients=clients, settings=settings, spec=spec, cancel=cancel)
    started = time.monotonic()
    try:
        outcome = await job.run(worker_id)
    except asyncio.CancelledError:
        reason = cancel.reason if cancel.is_set() else "interrupted"
        await asyncio.shield(_record_interrupted(pool, spec.run_id, reason))
        metrics.record_run(spec.trigger, "cancelled", time.monotonic() - started)
        raise
    metrics.record_run(spec.trigger, outcome.status, time.monotonic() - started)
    metrics.record_source_successes(
        name for name, progress in outcome.sources.items() if progress.status == "succeeded"
    )
    await _persist_outcome(pool, spec.run_id, outcome)
    totals = {
        field: sum(getattr(progress, field) for progress in outcome.sources.values())
        for field in (
            "pages",
            "rows_fetched",
            "rows_inserted",
            "rows_updated",
            "rows_unchanged",
            "rows_deleted",
            "retries",
        )
    }
    log.info(
        "run finished",
        status=outcome.status,
        reason=outcome.reason,
        trigger=spec.trigger,
        window_start=str(spec.start),
        window_end=str(spec.end),
        seconds=round(time.monotonic() - started, 3),
        **totals,
    )
    return outcome


async def _record_interrupted(pool: asyncpg.Pool, run_id: uuid.UUID, reason: str) -> None:
    async with pool.acquire() as connection:
        await runs_repo.cancel_interrupted(connection, run_id, reason)
    log.warning("run interrupted", run_id=str(run_id), reason=reason)


OUTCOME_PERSIST_SECONDS = 300.0


async def _persist_outcome(pool: asyncpg.Pool, run_id: uuid.UUID, outcome: RunOutcome) -> None:
    """The run's final status must be recorded truthfully even if the database was briefly
    away (restart, failover): retry for a while instead of leaving the run `running`."""
    async for attempt in stamina.retry_context(
        on=DATABASE_ERRORS, attempts=None, timeout=OUTCOME_PERSIST_SECONDS, wait_max=5.0
    ):
        with attempt:
            async with pool.acquire(timeout=10) as connection, connection.transaction():
                for progress in outcome.sources.values():
                    await runs_repo.save_progress(connection, run_id, progress)
                await runs_repo.finish_run(connection, run_id, outcome.status, outcome.reason)


def _owner_user_id(key: ApiKey) -> str | None:
    """The user a key acts as (its principal) or, failing that, the user who created it."""
    if key.principal is not None and key.principal.type in (None, "user"):
        return key.principal.id
    return key.created_by.id if key.created_by is not None else None
