"""One run in the foreground (CLI `run` and the demo): the same tracked path as the workers.

The run is created through the same queue rule as `POST /runs` — never beside an active run
of an overlapping window, account and source — but `running` at once, its parts claimed and
executed by this process, side by side."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import asyncpg

from app.config import Settings
from app.ingestion.factory import build_http_client
from app.orchestration.daily_job import RunOutcome
from app.orchestration.parts import execute_run, outcome_of, request_cancel
from app.orchestration.run_request import PlannedRun, stored_run
from app.orchestration.worker import worker_identity
from app.orchestration.worker_process import WorkerProcess, worker_count
from app.repositories import runs as runs_repo
from app.repositories.database import create_pool, resolve_dsn
from app.repositories.health import database_status, is_unreachable
from app.repositories.reports import WindowSummary, window_summary
from app.repositories.run_parts import heartbeat_run
from app.repositories.run_queue import create_requested_run
from app.repositories.runs import RunRecord
from app.vocabulary import ACTIVE_RUN_STATUSES, RunTrigger

POLL_SECONDS = 0.5
CANCEL_GRACE_SECONDS = 30.0


class SchemaNotReady(RuntimeError):
    pass


class DatabaseUnreachable(RuntimeError):
    pass


@dataclass(frozen=True)
class OneShotResult:
    run_id: uuid.UUID
    outcome: RunOutcome
    run: RunRecord
    summary: WindowSummary


async def run_once(
    settings: Settings,
    plan: PlannedRun,
    *,
    trigger: RunTrigger = RunTrigger.CLI,
    on_progress: Callable[[RunRecord], None] | None = None,
) -> OneShotResult:
    """Create a tracked run, execute it, report progress. Raises `OverlappingRun` (naming the
    active run) when another run covers part of the same window, account and sources.

    A run of several parts is spread over this machine's cores (WORKER_PROCESSES worker
    processes that claim only this run's parts); one part, or one process, runs here."""
    dsn = await asyncio.to_thread(resolve_dsn, settings)
    pool = await create_pool(settings, dsn)
    try:
        if (problem := await database_status(pool)) is not None:
            if is_unreachable(problem):
                raise DatabaseUnreachable(f"{problem}: check DATABASE_URL")
            raise SchemaNotReady(f"{problem}; run `usage-pipeline migrate` first")
        stored = stored_run(plan)
        processes = min(worker_count(settings), len(stored.parts))
        identity = worker_identity()
        async with pool.acquire() as connection:
            created = await create_requested_run(
                connection, stored, trigger=trigger, worker_id=identity, reserved=processes > 1
            )
        run_id = created.run_id
        async with build_http_client(settings) as http:
            if processes > 1:
                task = asyncio.create_task(
                    _on_processes(pool, settings, dsn, run_id, identity, processes)
                )
            else:
                task = asyncio.create_task(
                    execute_run(
                        pool=pool, http=http, settings=settings, run_id=run_id, plan=plan,
                        trigger=trigger,
                    )
                )  # fmt: skip
            await _follow(pool, run_id, task, on_progress)
            outcome = task.result()
        async with pool.acquire() as connection:
            summary = await window_summary(connection, plan.start, plan.end)
            record = await runs_repo.get_run(connection, run_id)
        assert record is not None
        return OneShotResult(run_id, outcome, record, summary)
    finally:
        await pool.close()


async def _follow(
    pool: asyncpg.Pool,
    run_id: uuid.UUID,
    task: asyncio.Task[RunOutcome],
    on_progress: Callable[[RunRecord], None] | None,
) -> None:
    """Report progress until the run ends; on Ctrl-C ask it to stop at the next page boundary
    (every finished day is kept) and give it CANCEL_GRACE_SECONDS."""
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)
            if on_progress is not None:
                async with pool.acquire() as connection:
                    run = await runs_repo.get_run(connection, run_id)
                if run is not None:
                    on_progress(run)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            async with pool.acquire() as connection:
                await request_cancel(connection, run_id)
            await asyncio.wait_for(asyncio.shield(task), CANCEL_GRACE_SECONDS)
        raise


async def _on_processes(
    pool: asyncpg.Pool,
    settings: Settings,
    dsn: str,
    run_id: uuid.UUID,
    identity: str,
    processes: int,
) -> RunOutcome:
    """The run's parts on `processes` worker processes that claim only them; this process
    heartbeats the run (its parts not yet claimed are covered by it) until it ends."""
    workers = WorkerProcess(settings, dsn, reserved_for=identity, processes=processes)
    workers.start()
    try:
        while True:
            async with pool.acquire() as connection:
                status = await heartbeat_run(connection, run_id)
            if status not in ACTIVE_RUN_STATUSES:
                break
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await workers.stop(settings.shutdown_deadline_seconds)
    async with pool.acquire() as connection:
        record = await runs_repo.get_run(connection, run_id)
    assert record is not None
    return outcome_of(record)


async def summarize(settings: Settings, start: date, end: date) -> WindowSummary:
    """What landed in both tables for a window (for the CLI and the demo)."""
    dsn = await asyncio.to_thread(resolve_dsn, settings)
    pool = await create_pool(settings, dsn)
    try:
        async with pool.acquire() as connection:
            return await window_summary(connection, start, end)
    finally:
        await pool.close()
