"""What each run teaches the coverage ledger, and when a day becomes final.

A source's day is fetched once every one of its feeds wrote it whole in the run (the shrink
guard's kept days are not); it becomes final once it was fetched after its revision horizon
passed — the day's end plus the source's horizon (REVISION_HORIZON_DAYS overrides the
registry's defaults). Days a failed or cancelled source did not fetch are recorded failed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from app.config import Settings
from app.logs import get_logger
from app.orchestration.sources.contract import Source, SourceRun
from app.repositories import coverage as coverage_repo
from app.repositories.database import DATABASE_ERRORS
from app.vocabulary import SourceStatus

log = get_logger(__name__)


def horizon(source: Source, settings: Settings) -> timedelta:
    days = settings.revision_horizon_days.get(source.name)
    return source.revision_horizon if days is None else timedelta(days=days)


def final_after(day: date, source: Source, settings: Settings) -> datetime:
    """The first moment a fetch of `day` is final: the day's end plus the horizon."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) + horizon(
        source, settings
    )


async def record(
    pool: asyncpg.Pool,
    source: Source,
    run: SourceRun,
    status: SourceStatus,
    error: str | None,
) -> None:
    """Bookkeeping, not data: a ledger that could not be written leaves days looking as they
    were, and the schedule re-reads them — so a database error here is logged, not raised."""
    feeds = source.units(run.clients, 1)
    fetched = [
        coverage_repo.Fetched(
            day,
            counts.inserted + counts.updated + counts.unchanged,
            counts.digest,
            final_after(day, source, run.settings),
            run.freshness.get(day),
        )
        for day, counts in sorted(run.fetched.items())
        if run.writes.get(day, 0) >= feeds
    ]
    done = {entry.day for entry in fetched}
    failed = [] if status is SourceStatus.SUCCEEDED else [d for d in run.days if d not in done]
    try:
        async with pool.acquire() as connection, connection.transaction():
            await coverage_repo.record_fetched(connection, run.part, run.scope.run_id, fetched)
            await coverage_repo.record_failed(connection, run.part, run.scope.run_id, failed, error)
    except DATABASE_ERRORS as exc:
        log.warning("coverage not recorded", part=str(run.part), error=type(exc).__name__)
