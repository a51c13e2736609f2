"""The in-process daily schedule (APScheduler 3.x), safe with any number of replicas.

Every replica runs the same cron job; the job only *enqueues* a `schedule` run keyed by
(job, scheduled time), and a unique constraint makes that one run per slot however many
replicas fire. The workers execute its parts. Each slot heals: the run re-reads every
account's configured sources' missing, failed and provisional days within
BACKFILL_HORIZON_DAYS (the coverage ledger), so a service that was down for a week catches
the week up at its next slot. On start-up the most recent slot is enqueued if no replica did.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from app.config import Settings
from app.logs import get_logger
from app.orchestration.digest import record_digest
from app.orchestration.heal import plan_heal
from app.orchestration.run_request import (
    InvalidRunRequest,
    PlannedRun,
    RunRequest,
    plan_run,
    stored_run,
)
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.repositories.database import DATABASE_ERRORS
from app.repositories.run_queue import enqueue_scheduled

log = get_logger(__name__)

JOB_NAME = "daily-ingestion"
DIGEST_JOB = "weekly-digest"


def cron_trigger(settings: Settings) -> CronTrigger:
    return CronTrigger.from_crontab(
        settings.schedule_cron, timezone=ZoneInfo(settings.schedule_timezone)
    )


def latest_slot(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The most recent fire time at or before `now` (looking back up to 31 days)."""
    candidate = trigger.get_next_fire_time(None, now - timedelta(days=31))
    latest = None
    while candidate is not None and candidate <= now:
        latest = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(seconds=1))
    return latest


def plan_slot(
    settings: Settings,
    slot: datetime,
    request: RunRequest | None = None,
    registry: SourceRegistry = REGISTRY,
) -> PlannedRun:
    """The run a slot asks for (by default the lookback window before the slot's UTC day),
    checked by the same rules as `POST /runs` and `usage-pipeline run`."""
    return plan_run(settings, request, today=slot.astimezone(UTC).date(), registry=registry)


async def enqueue_slot(
    pool: asyncpg.Pool,
    settings: Settings,
    slot: datetime,
    request: RunRequest | None = None,
    registry: SourceRegistry = REGISTRY,
) -> uuid.UUID | None:
    """Create the slot's run unless a replica already did; None when it existed, or the slot
    has nothing to do (said in the log). Without a `request` the slot heals: every configured
    source re-reads its missing, failed and provisional days (app.orchestration.heal)."""
    try:
        if request is None:
            plan = await plan_heal(
                pool,
                settings,
                today=slot.astimezone(UTC).date(),
                registry=registry,
                accounts=settings.schedule_accounts,
            )
            if plan is None:
                log.info(
                    "scheduled slot: every day within the horizon is final", slot=slot.isoformat()
                )
                return None
        else:
            plan = plan_slot(settings, slot, request, registry)
    except InvalidRunRequest as exc:
        log.warning("scheduled slot skipped", slot=slot.isoformat(), reason=str(exc))
        return None
    async with pool.acquire() as connection:
        run_id = await enqueue_scheduled(
            connection, stored_run(plan, registry), job=JOB_NAME, slot=slot
        )
    if run_id is not None:
        log.info("scheduled run queued", run_id=str(run_id), slot=slot.isoformat())
    return run_id


class DailySchedule:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, on_enqueued: Callable[[], None]
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.on_enqueued = on_enqueued
        self.trigger = cron_trigger(settings)
        self.scheduler = AsyncIOScheduler(timezone=ZoneInfo(settings.schedule_timezone))

    async def start(self) -> None:
        digest = CronTrigger.from_crontab(
            self.settings.digest_cron, timezone=ZoneInfo(self.settings.schedule_timezone)
        )
        for job, trigger, name in ((self._fire, self.trigger, JOB_NAME),
                                   (self._digest, digest, DIGEST_JOB)):  # fmt: skip
            self.scheduler.add_job(
                job,
                trigger,
                id=name,
                name=name,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=self.settings.schedule_misfire_grace_seconds,
            )
        self.scheduler.start()
        await self.catch_up()

    async def catch_up(self) -> None:
        slot = latest_slot(self.trigger, datetime.now(UTC))
        if slot is not None and await enqueue_slot(self.pool, self.settings, slot):
            self.on_enqueued()

    async def _fire(self) -> None:
        slot = latest_slot(self.trigger, datetime.now(UTC))
        if slot is not None and await enqueue_slot(self.pool, self.settings, slot):
            self.on_enqueued()

    async def _digest(self) -> None:
        """Last week's digest for the webhooks: recorded once, whichever replica fires."""
        try:
            if await record_digest(self.pool, self.settings, datetime.now(UTC).date()):
                log.info("weekly digest recorded")
        except DATABASE_ERRORS as exc:
            log.warning("weekly digest not recorded", error=type(exc).__name__)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
