"""One part of an ingestion run: fetch → process → write, every source of the part at once.

A part is one account's sources that run together (`run_request.parts_of`); a worker process
executes it (`app.orchestration.parts`). The job knows sources only through the registry: for
each source of the part it gives the source its view of the run (`SourceRun`, with the
account's clients and settings) and awaits its `ingest`. Each source streams pages,
turns them into fact rows and writes each (source, day) in one transaction as soon as that day
is complete, so fetching and writing overlap and memory stays bounded. Sources run
concurrently; one failing (after its retries) does not stop the others.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field

import asyncpg
import structlog

from app import metrics, redaction
from app.accounts import AccountSource
from app.config import Settings
from app.ingestion.errors import UpstreamError
from app.ingestion.factory import UpstreamClients
from app.logs import get_logger
from app.orchestration import coverage
from app.orchestration.run_request import PlannedRun
from app.orchestration.sources.contract import RunScope, Source, SourceRun
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.orchestration.tracking import Cancellation, RunCancelled, RunTracker, SourceTracker
from app.processing.errors import UnusableData
from app.repositories import coverage as coverage_repo
from app.repositories import runs as runs_repo
from app.repositories.database import DATABASE_ERRORS
from app.vocabulary import RunStatus, RunTrigger, SourceStatus

log = get_logger(__name__)

ERROR_LIMIT = 2000
GONE_STATUSES = frozenset({404, 410})


@dataclass(frozen=True)
class PartSpec:
    """What one part of a tracked run does: an account's sources over the run's window (each
    over its own sub-window where the plan gives one)."""

    run_id: uuid.UUID
    part_no: int
    account: str
    sources: tuple[str, ...]
    plan: PlannedRun
    trigger: RunTrigger = RunTrigger.CLI


@dataclass
class RunOutcome:
    """How a part (or a whole run) ended; `sources` by source name (a run's of several
    accounts: `account/source`)."""

    status: RunStatus
    reason: str | None
    sources: dict[str, runs_repo.SourceProgress] = field(default_factory=dict)


class DailyJob:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        clients: UpstreamClients,
        settings: Settings,
        spec: PartSpec,
        cancel: Cancellation | None = None,
        registry: SourceRegistry = REGISTRY,
    ) -> None:
        self.spec = spec
        self.sources: list[Source] = [registry.get(name) for name in spec.sources]
        self.tracker = RunTracker(pool, spec.run_id, cancel or Cancellation(), spec.part_no)
        self.scope = RunScope(pool, clients, settings, self.tracker, spec.account)

    async def run(self) -> RunOutcome:
        runs: list[SourceRun] = []
        for source in self.sources:
            days = self.spec.plan.days_of(AccountSource(self.spec.account, source.name))
            self.scope.days_of[source.name] = days
            days_total = source.units(self.scope.clients, len(days))
            tracker = self.tracker.add(
                SourceTracker(source.name, source.table, days_total, self.spec.account)
            )
            runs.append(SourceRun(self.scope, tracker, days))
        await self.tracker.start()
        log.info(
            "part started",
            account=self.spec.account,
            window_start=str(self.spec.plan.start),
            window_end=str(self.spec.plan.end),
            sources=list(self.spec.sources),
        )
        try:
            await asyncio.gather(
                *(self._guard(source, run) for source, run in zip(self.sources, runs, strict=True))
            )
        finally:
            await self.scope.close()
            await self.tracker.stop()
        return self._outcome()

    async def _guard(self, source: Source, run: SourceRun) -> None:
        """Run one source to its end; whatever it raises becomes its status and error."""
        # This task's context only.
        structlog.contextvars.bind_contextvars(source=source.name, account=self.spec.account)
        tracker = run.tracker
        self.tracker.mark_started(tracker)
        tracker.stats.start_budget(run.settings.upstream_source_time_budget_seconds)
        status, error = await self._ingest(source, run)
        tracker.finish_warnings()
        if error is not None:
            error = redaction.safe_text(error, ERROR_LIMIT)  # redacted before it is cut
        await coverage.record(self.scope.pool, source, run, status, error)
        self.tracker.mark_finished(tracker, status, error)
        progress = tracker.progress
        log.info(
            "source finished",
            source=source.name,
            status=status,
            error=error,
            pages=progress.pages,
            rows_fetched=progress.rows_fetched,
            inserted=progress.rows_inserted,
            updated=progress.rows_updated,
            unchanged=progress.rows_unchanged,
            deleted=progress.rows_deleted,
            retries=tracker.stats.retries,
        )

    async def _ingest(self, source: Source, run: SourceRun) -> tuple[SourceStatus, str | None]:
        """The source's `ingest`, bounded by its deadline and the run's, and interrupted (not
        only at its next page) when the run is cancelled. An interrupted day's transaction
        rolls back, so no day is half-written."""
        settings = run.settings
        deadline, setting = min(
            (settings.upstream_source_deadline_seconds, "UPSTREAM_SOURCE_DEADLINE_SECONDS"),
            (settings.run_deadline_seconds, "RUN_DEADLINE_SECONDS"),
        )
        bound = asyncio.timeout(deadline)
        try:
            async with bound:
                await self._until_cancelled(source.ingest(run))
        except RunCancelled as exc:
            return SourceStatus.CANCELLED, f"{exc} before this source completed"
        except UpstreamError as exc:
            run.tracker.progress.upstream_status = exc.status
            if exc.status in GONE_STATUSES:
                return SourceStatus.FAILED, await self._gone(source, exc)
            return SourceStatus.FAILED, str(exc)
        except UnusableData as exc:
            return SourceStatus.FAILED, str(exc)
        except DATABASE_ERRORS as exc:  # TimeoutError included: ours, or the database's
            if isinstance(exc, TimeoutError) and bound.expired():
                return SourceStatus.FAILED, (
                    f"{source.name} did not finish within {deadline:g} s ({setting}); the days"
                    " it had not written stay as they were"
                )
            return SourceStatus.FAILED, f"database error: {type(exc).__name__}: {exc}"
        except Exception as exc:
            log.exception("source crashed", source=source.name)
            return SourceStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
        return SourceStatus.SUCCEEDED, None

    async def _gone(self, source: Source, exc: UpstreamError) -> str:
        """404/410 from an endpoint the source has read before: the upstream may have withdrawn
        it (GitHub shut an API down this way in 2026). Said loudly, counted, and the days stay
        failed — never written as zeros."""
        try:
            async with self.scope.pool.acquire() as connection:
                before = await coverage_repo.last_fetched(
                    connection, AccountSource(self.spec.account, source.name)
                )
        except DATABASE_ERRORS:
            before = None
        if before is None:
            return str(exc)
        metrics.UPSTREAM_DRIFT.labels(exc.upstream, exc.endpoint, "gone").inc()
        return (
            f"{exc}; it answered before (last on {before:%Y-%m-%d}): the endpoint may have been"
            " withdrawn or moved — check the upstream's changelog; the days stay failed"
        )

    async def _until_cancelled(self, work: Coroutine[object, object, None]) -> None:
        """Await `work`; if the run is cancelled first, cancel it and raise `RunCancelled`."""
        cancel = self.tracker.cancel
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(cancel.event.wait())
        try:
            await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            task.cancel()
            await asyncio.wait((task,))
            if not task.cancelled() and task.exception() is None:
                return None  # it finished just as the cancel came
            raise RunCancelled(cancel.reason)
        finally:
            waiter.cancel()
            if not task.done():  # our own task was cancelled (shutdown): take the source down
                task.cancel()
                await asyncio.wait((task,))

    def _outcome(self) -> RunOutcome:
        progress = {name: tracker.snapshot() for name, tracker in self.tracker.sources.items()}
        statuses = {p.status for p in progress.values()}
        failed = sorted(name for name, p in progress.items() if p.status == SourceStatus.FAILED)
        if SourceStatus.CANCELLED in statuses:
            return RunOutcome(RunStatus.CANCELLED, self.tracker.cancel.reason, progress)
        if not failed:
            return RunOutcome(RunStatus.SUCCEEDED, None, progress)
        reason = "; ".join(f"{name}: {progress[name].last_error}" for name in failed)
        status = RunStatus.FAILED if len(failed) == len(progress) else RunStatus.PARTIAL
        return RunOutcome(status, reason, progress)
