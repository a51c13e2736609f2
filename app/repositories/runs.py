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
    runs = await _runs_with_sources(
        connection, await connection.fetch("SELECT * FROM ingestion_runs WHERE id = $1", run_id)
    )
    return runs[0] if runs else None


async def _runs_with_sources(
    connection: asyncpg.Connection, rows: list[asyncpg.Record]
) -> list[dict[str, Any]]:
    runs = [dict(row) for row in rows]
    if not runs:
        return runs
    sources = await connection.fetch(
        "SELECT * FROM ingestion_run_sources WHERE run_id = ANY($1::uuid[]) ORDER BY source",
        [run["id"] for run in runs],
    )
    for run in runs:
        run["source_progress"] = [dict(s) for s in sources if s["run_id"] == run["id"]]
    return runs


# --- the run queue ------------------------------------------------------------------------------

ACTIVE_STATUSES = ("queued", "running")
# Serialises "check for overlap, then insert" and "claim" across every replica.
_CREATE_LOCK = "ai-usage-pipeline:runs:create"
_CLAIM_LOCK = "ai-usage-pipeline:runs:claim"


@dataclass(frozen=True)
class Created:
    run_id: uuid.UUID
    created: bool  # False: an existing run was returned for the same idempotency key


class IdempotencyMismatch(Exception):
    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(str(run_id))
        self.run_id = run_id


class OverlappingRun(Exception):
    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(str(run_id))
        self.run_id = run_id


async def create_requested_run(
    connection: asyncpg.Connection,
    *,
    window_start: date,
    window_end: date,
    sources: list[str],
    idempotency_key: str | None,
    fingerprint: str,
    key_ttl_hours: int,
) -> Created:
    """Queue an API run, exactly once per idempotency key, never beside an overlapping one."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _CREATE_LOCK)
        if idempotency_key is not None:
            existing = await connection.fetchrow(
                "SELECT id, request_fingerprint, created_at > now() - make_interval(hours => $2)"
                " AS fresh FROM ingestion_runs WHERE idempotency_key = $1",
                idempotency_key,
                key_ttl_hours,
            )
            if existing is not None and existing["fresh"]:
                if existing["request_fingerprint"] != fingerprint:
                    raise IdempotencyMismatch(existing["id"])
                return Created(existing["id"], created=False)
            if existing is not None:  # expired: the key may be used again
                await connection.execute(
                    "UPDATE ingestion_runs SET idempotency_key = NULL WHERE id = $1", existing["id"]
                )
        overlapping = await connection.fetchval(
            """
            SELECT id FROM ingestion_runs
             WHERE status IN ('queued', 'running')
               AND window_start <= $2 AND window_end >= $1 AND sources && $3::text[]
             ORDER BY created_at LIMIT 1
            """,
            window_start,
            window_end,
            sources,
        )
        if overlapping is not None:
            raise OverlappingRun(overlapping)
        run_id = await create_run(
            connection,
            trigger="api",
            window_start=window_start,
            window_end=window_end,
            sources=sources,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
        )
    return Created(run_id, created=True)


async def enqueue_scheduled(
    connection: asyncpg.Connection,
    *,
    job: str,
    slot: datetime,
    window_start: date,
    window_end: date,
    sources: list[str],
) -> uuid.UUID | None:
    """One run per (job, slot) whatever the number of replicas; None if it already exists."""
    run_id: uuid.UUID | None = await connection.fetchval(
        """
        INSERT INTO ingestion_runs (trigger, window_start, window_end, sources, schedule_job,
                                    scheduled_for)
        VALUES ('schedule', $1, $2, $3, $4, $5)
        ON CONFLICT (schedule_job, scheduled_for) DO NOTHING
        RETURNING id
        """,
        window_start,
        window_end,
        sources,
        job,
        slot,
    )
    return run_id


@dataclass(frozen=True)
class ClaimedRun:
    id: uuid.UUID
    window_start: date
    window_end: date
    sources: list[str]
    trigger: str


async def claim_next(connection: asyncpg.Connection, worker_id: str) -> ClaimedRun | None:
    """Claim the oldest queued run that overlaps no running one (SKIP LOCKED, serialised)."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _CLAIM_LOCK)
        row = await connection.fetchrow(
            """
            SELECT q.id, q.window_start, q.window_end, q.sources, q.trigger
              FROM ingestion_runs q
             WHERE q.status = 'queued'
               AND NOT EXISTS (
                   SELECT 1 FROM ingestion_runs r
                    WHERE r.status = 'running' AND r.window_start <= q.window_end
                      AND r.window_end >= q.window_start AND r.sources && q.sources)
             ORDER BY q.created_at, q.id
             LIMIT 1
             FOR UPDATE SKIP LOCKED
            """
        )
        if row is None:
            return None
        await connection.execute(
            "UPDATE ingestion_runs SET status = 'running', worker_id = $2, started_at = now(),"
            " heartbeat_at = now() WHERE id = $1",
            row["id"],
            worker_id,
        )
    return ClaimedRun(
        row["id"], row["window_start"], row["window_end"], list(row["sources"]), row["trigger"]
    )


async def mark_stale_runs_crashed(
    connection: asyncpg.Connection, timeout_seconds: float
) -> list[tuple[uuid.UUID, str]]:
    """Runs whose worker stopped heartbeating (its process died) end `crashed`."""
    async with connection.transaction():
        rows = await connection.fetch(
            """
            UPDATE ingestion_runs
               SET status = 'crashed', finished_at = now(),
                   status_reason = 'worker ' || coalesce(worker_id, '?')
                                   || ' stopped heartbeating'
             WHERE status = 'running'
               AND heartbeat_at < now() - make_interval(secs => $1)
            RETURNING id, trigger
            """,
            timeout_seconds,
        )
        ids = [row["id"] for row in rows]
        if ids:
            await connection.execute(
                "UPDATE ingestion_run_sources SET status = 'failed', finished_at = now(),"
                " last_error = coalesce(last_error, 'run crashed'), updated_at = now()"
                " WHERE run_id = ANY($1::uuid[]) AND status IN ('pending', 'running')",
                ids,
            )
    return [(row["id"], row["trigger"]) for row in rows]


async def request_cancel(
    connection: asyncpg.Connection, run_id: uuid.UUID
) -> tuple[str, bool] | None:
    """Queued → cancelled now; running → asked to stop at the next page boundary.

    Returns (status afterwards, whether the request was accepted); None for an unknown run."""
    status: str | None = await connection.fetchval(
        """
        UPDATE ingestion_runs
           SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
               finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
               status_reason = CASE WHEN status = 'queued' THEN 'cancelled by request'
                                    ELSE status_reason END,
               cancel_requested_at = coalesce(cancel_requested_at, now())
         WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING status
        """,
        run_id,
    )
    if status is not None:
        return status, True
    current: str | None = await connection.fetchval(
        "SELECT status FROM ingestion_runs WHERE id = $1", run_id
    )
    return None if current is None else (current, False)


async def list_runs(
    connection: asyncpg.Connection,
    *,
    status: str | None,
    trigger: str | None,
    limit: int,
    before: uuid.UUID | None,
) -> list[dict[str, Any]]:
    """Newest first; keyset pagination on (created_at, id) after the run `before`."""
    rows = await connection.fetch(
        """
        SELECT r.* FROM ingestion_runs r
         WHERE ($1::text IS NULL OR r.status = $1)
           AND ($2::text IS NULL OR r.trigger = $2)
           AND ($3::uuid IS NULL OR (r.created_at, r.id) <
                (SELECT b.created_at, b.id FROM ingestion_runs b WHERE b.id = $3))
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT $4
        """,
        status,
        trigger,
        before,
        limit,
    )
    return await _runs_with_sources(connection, rows)


async def run_exists(connection: asyncpg.Connection, run_id: uuid.UUID) -> bool:
    found: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ingestion_runs WHERE id = $1)", run_id
    )
    return found


async def cancel_interrupted(
    connection: asyncpg.Connection, run_id: uuid.UUID, reason: str
) -> None:
    """A run stopped mid-flight: sources still going are cancelled, the run too."""
    async with connection.transaction():
        await connection.execute(
            "UPDATE ingestion_run_sources SET status = 'cancelled', finished_at = now(),"
            " last_error = coalesce(last_error, $2), updated_at = now()"
            " WHERE run_id = $1 AND status IN ('pending', 'running')",
            run_id,
            reason,
        )
        await connection.execute(
            "UPDATE ingestion_runs SET status = 'cancelled', status_reason = $2,"
            " finished_at = now() WHERE id = $1 AND status IN ('queued', 'running')",
            run_id,
            reason,
        )
