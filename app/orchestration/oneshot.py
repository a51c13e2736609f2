"""One run in the foreground (CLI `run` and the demo): the same tracked path as the workers.

The run is created through the same queue rule as `POST /runs` — never beside an active run
of an overlapping window, account and source — but `running` at once, its parts claimed and
executed by this process, side by side."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from app.config import Settings
from app.ingestion.factory import build_http_client
from app.orchestration.daily_job import RunOutcome
from app.orchestration.parts import execute_run
from app.orchestration.run_request import PlannedRun, stored_run
from app.orchestration.tracking import Cancellation
from app.repositories import runs as runs_repo
from app.repositories.database import create_pool, resolve_dsn
from app.repositories.health import database_status
from app.repositories.reports import WindowSummary, window_summary
from app.repositories.run_queue import create_requested_run
from app.repositories.runs import RunRecord
from app.vocabulary import RunTrigger

POLL_SECONDS = 0.5
CANCEL_GRACE_SECONDS = 30.0


class SchemaNotReady(RuntimeError):
    pass


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
    active run) when another run covers part of the same window and sources."""
    dsn = await asyncio.to_thread(resolve_dsn, settings)
    pool = await create_pool(settings, dsn)
    try:
        if (problem := await database_status(pool)) is not None:
            raise SchemaNotReady(f"{problem}; run `usage-pipeline migrate` first")
        async with pool.acquire() as connection:
            created = await create_requested_run(
                connection, stored_run(plan), trigger=trigger, worker_id=worker_identity()
            )
        run_id = created.run_id
        async with build_http_client(settings) as http:
            cancel = Cancellation()
            task = asyncio.create_task(
                execute_run(
                    pool=pool,
                    http=http,
                    settings=settings,
                    run_id=run_id,
                    plan=plan,
                    trigger=trigger,
                    cancel=cancel,
                )
            )
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=POLL_SECONDS)
                    if on_progress is not None:
                        async with pool.acquire() as connection:
                            run = await runs_repo.get_run(connection, run_id)
                        if run is not None:
                            on_progress(run)
                outcome = task.result()
            except asyncio.CancelledError:
                # Ctrl-C: stop at the next page boundary, keep every finished day.
                cancel.request("interrupted (Ctrl-C)")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), CANCEL_GRACE_SECONDS)
                raise
        async with pool.acquire() as connection:
            summary = await window_summary(connection, plan.start, plan.end)
            record = await runs_repo.get_run(connection, run_id)
        assert record is not None
        return OneShotResult(run_id, outcome, record, summary)
    finally:
        await pool.close()


async def summarize(settings: Settings, start: date, end: date) -> WindowSummary:
    """What landed in both tables for a window (for the CLI and the demo)."""
    dsn = await asyncio.to_thread(resolve_dsn, settings)
    pool = await create_pool(settings, dsn)
    try:
        async with pool.acquire() as connection:
            return await window_summary(connection, start, end)
    finally:
        await pool.close()
