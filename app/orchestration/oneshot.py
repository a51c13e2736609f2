"""One run in the foreground (CLI `run` and the demo): the same tracked path as the worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from app.config import Settings, SourceName
from app.ingestion.factory import build_clients, build_http_client
from app.orchestration.daily_job import RunOutcome, RunSpec, execute_run
from app.orchestration.tracking import Cancellation
from app.repositories import reports
from app.repositories import runs as runs_repo
from app.repositories.database import create_pool, resolve_dsn
from app.repositories.health import database_status

POLL_SECONDS = 0.5
CANCEL_GRACE_SECONDS = 30.0


class SchemaNotReady(RuntimeError):
    pass


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_once(
    settings: Settings,
    *,
    start: date,
    end: date,
    sources: Sequence[SourceName],
    trigger: str = "cli",
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[uuid.UUID, RunOutcome, dict[str, Any]]:
    """Create a tracked run, execute it, report progress; returns (id, outcome, summary)."""
    dsn = await asyncio.to_thread(resolve_dsn, settings)
    pool = await create_pool(settings, dsn)
    try:
        if (problem := await database_status(pool)) is not None:
            raise SchemaNotReady(f"{problem}; run `usage-pipeline migrate` first")
        async with pool.acquire() as connection:
            run_id = await runs_repo.create_run(
                connection,
                trigger=trigger,
                window_start=start,
                window_end=end,
                sources=list(sources),
            )
        async with build_http_client(settings) as http:
            clients = build_clients(settings, http)
            cancel = Cancellation()
            task = asyncio.create_task(
                execute_run(
                    pool=pool,
                    clients=clients,
                    settings=settings,
                    spec=RunSpec(run_id, start, end, tuple(sources), trigger),
                    worker_id=worker_identity(),
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
            summary = await _summary(connection, start, end)
            summary["run"] = await runs_repo.get_run(connection, run_id)
        return run_id, outcome, summary
    finally:
        await pool.close()


async def _summary(connection: Any, start: date, end: date) -> dict[str, Any]:
    return {
        "claude": await reports.claude_summary(connection, start, end),
        "cursor": await reports.cursor_summary(connection, start, end),
    }


async def summarize(settings: Settings, start: date, end: date) -> dict[str, Any]:
    """What landed in both tables for a window (for the CLI and the demo)."""
    dsn = await asyncio.to_thread(resolve_dsn, settings)
    pool = await create_pool(settings, dsn)
    try:
        async with pool.acquire() as connection:
            return await _summary(connection, start, end)
    finally:
        await pool.close()
