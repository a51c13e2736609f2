"""The run queue: creating runs (once per idempotency key, never beside an overlapping one)
and one scheduled run per slot. Workers claim their parts (`app.repositories.run_parts`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.repositories.runs import NewRun, create_run
from app.vocabulary import ACTIVE_RUN_STATUSES, RunStatus, RunTrigger, sql_list

# Serialises "check for overlap, then insert" across every replica.
_CREATE_LOCK = "ai-usage-pipeline:runs:create"


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
            f"run {run_id} is already queued or running for an overlapping window, account and"
            " source"
        )
        self.run_id = run_id


_OVERLAPPING = f"""
    SELECT id FROM ingestion_runs
     WHERE status IN ({sql_list(ACTIVE_RUN_STATUSES)})
       AND window_start <= $2 AND window_end >= $1 AND sources && $3::text[]
       AND accounts && $4::text[]
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
    run: NewRun,
    *,
    trigger: RunTrigger = RunTrigger.API,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    key_ttl_hours: int = 24,
    requested_by: str | None = None,
    max_queued: int | None = None,
    worker_id: str | None = None,
    reserved: bool = False,
) -> Created:
    """Create a requested run, exactly once per idempotency key, never beside an active run of
    an overlapping window, account and source (raises `OverlappingRun` naming it), and never
    more than `max_queued` queued runs of one requester (`TooManyQueued`).

    An API run is queued for the workers; a CLI run is executed by the process that asked
    (`worker_id`), so it is created `running` and no other worker can claim its parts: they
    are created `running` (executed in that process), or, `reserved`, queued for that
    process's own workers alone."""
    status = RunStatus.QUEUED if trigger is RunTrigger.API else RunStatus.RUNNING
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _CREATE_LOCK)
        if idempotency_key is not None:
            known = await _run_of_key(connection, idempotency_key, fingerprint, key_ttl_hours)
            if known is not None:
                return Created(known, created=False)
        overlapping = await connection.fetchval(
            _OVERLAPPING, run.window_start, run.window_end, run.sources, run.accounts
        )
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
            run,
            trigger=trigger,
            status=status,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            requested_by=requested_by,
            worker_id=None if status is RunStatus.QUEUED else worker_id,
            parts_queued=reserved,
        )
    assert run_id is not None
    return Created(run_id, created=True)


async def enqueue_scheduled(
    connection: asyncpg.Connection, run: NewRun, *, job: str, slot: datetime
) -> uuid.UUID | None:
    """One run per (job, slot) whatever the number of replicas; None if it already exists."""
    async with connection.transaction():
        return await create_run(
            connection, run, trigger=RunTrigger.SCHEDULE, schedule_job=job, scheduled_for=slot
        )
