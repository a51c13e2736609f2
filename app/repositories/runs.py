"""Run tracking: `ingestion_runs` and one `ingestion_run_sources` row per source."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

TERMINAL_STATUSES = ("succeeded", "partial", "failed", "cancelled", "crashed")


@dataclass
class SourceProgress:
    """What one source has done so far in a run (written while it goes)."""

    source: str
    target_table: str
    status: str = "pending"
    days_total: int = 0
    days_done: int = 0
    pages: int = 0
    rows_fetched: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_deleted: int = 0
    rows_skipped: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    last_error: str | None = None
    upstream_status: int | None = None
    started_at: datetime | None = field(default=None)
    finished_at: datetime | None = field(default=None)


_PROGRESS_COLUMNS = tuple(
    name for name in SourceProgress.__dataclass_fields__ if name not in ("source", "target_table")
)


async def create_run(
    connection: asyncpg.Connection,
    *,
    trigger: str,
    window_start: date,
    window_end: date,
    sources: list[str],
    status: str = "queued",
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
    schedule_job: str | None = None,
    scheduled_for: datetime | None = None,
) -> uuid.UUID:
    run_id: uuid.UUID = await connection.fetchval(
        """
        INSERT INTO ingestion_runs
               (status, trigger, window_start, window_end, sources,
                idempotency_key, request_fingerprint, schedule_job, scheduled_for)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        RETURNING id
        """,
        status,
        trigger,
        window_start,
        window_end,
        sources,
        idempotency_key,
        request_fingerprint,
        schedule_job,
        scheduled_for,
    )
    return run_id


async def start_run(
    connection: asyncpg.Connection,
    run_id: uuid.UUID,
    worker_id: str,
    sources: list[SourceProgress],
) -> None:
    async with connection.transaction():
        await connection.execute(
            """
            UPDATE ingestion_runs
               SET status = 'running', worker_id = $2, started_at = coalesce(started_at, now()),
                   heartbeat_at = now()
             WHERE id = $1
            """,
            run_id,
            worker_id,
        )
        await connection.executemany(
            """
            INSERT INTO ingestion_run_sources (run_id, source, target_table, days_total)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (run_id, source) DO NOTHING
            """,
            [(run_id, s.source, s.target_table, s.days_total) for s in sources],
        )


async def save_progress(
    connection: asyncpg.Connection, run_id: uuid.UUID, progress: SourceProgress
) -> None:
    values = asdict(progress)
    assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(_PROGRESS_COLUMNS))
    await connection.execute(
        f"UPDATE ingestion_run_sources SET {assignments}, updated_at = now()"
        " WHERE run_id = $1 AND source = $2",
        run_id,
        progress.source,
        *(values[name] for name in _PROGRESS_COLUMNS),
    )


async def heartbeat(connection: asyncpg.Connection, run_id: uuid.UUID) -> bool:
    """Refresh the heartbeat; True when a cancel has been requested."""
    cancel_requested: bool | None = await connection.fetchval(
        "UPDATE ingestion_runs SET heartbeat_at = now() WHERE id = $1"
        " RETURNING cancel_requested_at IS NOT NULL",
        run_id,
    )
    return bool(cancel_requested)


async def finish_run(
    connection: asyncpg.Connection, run_id: uuid.UUID, status: str, reason: str | None
) -> None:
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"not a terminal status: {status}")
    await connection.execute(
        """
        UPDATE ingestion_runs
           SET status = $2, status_reason = $3, finished_at = now(), heartbeat_at = now()
         WHERE id = $1
        """,
        run_id,
        status,
        reason,
    )


async def get_run(connection: asyncpg.Connection, run_id: uuid.UUID) -> dict[str, Any] | None:
    run = await connection.fetchrow("SELECT * FROM ingestion_runs WHERE id = $1", run_id)
    if run is None:
        return None
    sources = await connection.fetch(
        "SELECT * FROM ingestion_run_sources WHERE run_id = $1 ORDER BY source", run_id
    )
    result = dict(run)
    result["source_progress"] = [dict(row) for row in sources]
    return result
