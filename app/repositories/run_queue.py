"""The run queue: creating runs (once per idempotency key, never beside an overlapping one),
one scheduled run per slot, and claiming queued runs across replicas."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from app.repositories.runs import SourceWindows, create_run, windows_from_json, windows_to_json
from app.vocabulary import ACTIVE_RUN_STATUSES, RunStatus, RunTrigger, sql_list

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


class TooManyQueued(Exception):
    def __init__(self, requested_by: str, queued: int) -> None:
        super().__init__(
            f"{requested_by!r} has {queued} runs queued already (MAX_QUEUED_RUNS_PER_TOKEN);"
            " wait for one to start, or cancel one"
        )


class OverlappingRun(Exception):
    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(
            f"run {run_id} is already queued or running for an overlapping window and source"
        )
        self.run_id = run_id


_OVERLAPPING = f"""
    SELECT id FROM ingestion_runs
     WHERE status IN ({sql_list(ACTIVE_RUN_STATUSES)})
       AND window_start <= $2 AND window_end >= $1 AND sources && $3::text[]
     ORDER BY created_at LIMIT 1
"""


async def _run_of_key(
    connection: asyncpg.Connection, key: str, fingerprint: str | None, ttl_hours: int
) -> uuid.UUID | None:
    """The run an unexpired idempotency key made (same request, else `IdempotencyMismatch`);
    an expired key is freed for the new run."""
    existing = await connection.fetchrow(
        "SELECT id, request_fingerprint, created_at > now() - make_interval(hours => $2)"
        " AS fresh FROM ingestion_runs WHERE idempotency_key = $1",
        key,
        ttl_hours,
    )
    if existing is None:
        return None
    if not existing["fresh"]:  # expired: the key may be used again
        await connection.execute(
            "UPDATE ingestion_runs SET idempotency_key = NULL WHERE id = $1", existing["id"]
        )
        return None
    if existing["request_fingerprint"] != fingerprint:
        raise IdempotencyMismatch(existing["id"])
    run_id: uuid.UUID = existing["id"]
    return run_id


async def create_requested_run(
    connection: asyncpg.Connection,
    *,
    window_start: date,
    window_end: date,
    sources: list[str],
    trigger: RunTrigger = RunTrigger.API,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    key_ttl_hours: int = 24,
    source_windows: SourceWindows | None = None,
    requested_by: str | None = None,
    max_queued: int | None = None,
) -> Created:
    """Create a requested run, exactly once per idempotency key, never beside an active run of
    an overlapping window and source (raises `OverlappingRun` naming it), and never more than
    `max_queued` queued runs of one requester (`TooManyQueued`).

    An API run is queued for the worker; a CLI run is executed by the process that asked, so it
    is created `running` and no replica's worker can claim it too."""
    status = RunStatus.QUEUED if trigger is RunTrigger.API else RunStatus.RUNNING
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _CREATE_LOCK)
        if idempotency_key is not None:
            known = await _run_of_key(connection, idempotency_key, fingerprint, key_ttl_hours)
            if known is not None:
                return Created(known, created=False)
        overlapping = await connection.fetchval(_OVERLAPPING, window_start, window_end, sources)
        if overlapping is not None:
            raise OverlappingRun(overlapping)
        if max_queued is not None and requested_by is not None:
            queued = await connection.fetchval(
                f"SELECT count(*) FROM ingestion_runs WHERE status = '{RunStatus.QUEUED}'"
                " AND requested_by = $1",
                requested_by,
            )
            if queued >= max_queued:
                raise TooManyQueued(requested_by, queued)
        run_id = await create_run(
            connection,
            trigger=trigger,
            status=status,
            window_start=window_start,
            window_end=window_end,
            sources=sources,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            source_windows=source_windows,
            requested_by=requested_by,
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
    source_windows: SourceWindows | None = None,
) -> uuid.UUID | None:
    """One run per (job, slot) whatever the number of replicas; None if it already exists."""
    run_id: uuid.UUID | None = await connection.fetchval(
        f"""
        INSERT INTO ingestion_runs (trigger, window_start, window_end, sources, schedule_job,
                                    scheduled_for, source_windows, requested_by)
        VALUES ('{RunTrigger.SCHEDULE}', $1, $2, $3, $4, $5, $6::jsonb, '{RunTrigger.SCHEDULE}')
        ON CONFLICT (schedule_job, scheduled_for) DO NOTHING
        RETURNING id
        """,
        window_start,
        window_end,
        sources,
        job,
        slot,
        windows_to_json(source_windows),
    )
    return run_id


@dataclass(frozen=True)
class ClaimedRun:
    id: uuid.UUID
    window_start: date
    window_end: date
    sources: list[str]
    trigger: RunTrigger
    source_windows: dict[str, tuple[date, date]] | None = None


async def claim_next(connection: asyncpg.Connection, worker_id: str) -> ClaimedRun | None:
    """Claim the oldest queued run that overlaps no running one (SKIP LOCKED, serialised)."""
    queued, running = RunStatus.QUEUED, RunStatus.RUNNING
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _CLAIM_LOCK)
        row = await connection.fetchrow(
            f"""
            SELECT q.id, q.window_start, q.window_end, q.sources, q.trigger, q.source_windows
              FROM ingestion_runs q
             WHERE q.status = '{queued}'
               AND NOT EXISTS (
                   SELECT 1 FROM ingestion_runs r
                    WHERE r.status = '{running}' AND r.window_start <= q.window_end
                      AND r.window_end >= q.window_start AND r.sources && q.sources)
             ORDER BY q.created_at, q.id
             LIMIT 1
             FOR UPDATE SKIP LOCKED
            """
        )
        if row is None:
            return None
        await connection.execute(
            f"UPDATE ingestion_runs SET status = '{running}', worker_id = $2, started_at = now(),"
            " heartbeat_at = now() WHERE id = $1",
            row["id"],
            worker_id,
        )
    return ClaimedRun(
        row["id"],
        row["window_start"],
        row["window_end"],
        list(row["sources"]),
        RunTrigger(row["trigger"]),
        windows_from_json(row["source_windows"]),
    )
