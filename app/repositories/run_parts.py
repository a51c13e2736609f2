"""The parts of runs (`ingestion_run_parts`): claimed by any worker process of any replica,
heartbeated while they run, and the run finished when its last part is.

A part is one account's sources that run together (app.orchestration.run_request.parts_of).
Claiming is `FOR UPDATE SKIP LOCKED` under an advisory transaction lock, so each part is
executed exactly once and never beside a running part of another run that reads the same
account's source over overlapping days. A queued part that names a worker is reserved: only
that worker's processes claim it (a CLI run's parts, spread over the CLI's own processes).
The worker that ends a run's last part — or the reaper, for a part whose worker died —
records the run's outcome, under a lock of the run's row, so exactly one of them does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from app.repositories.runs import SourceProgress, finish_run, windows_from_json
from app.vocabulary import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    UNFINISHED_SOURCE_STATUSES,
    RunStatus,
    RunTrigger,
    SourceStatus,
    sql_list,
)

_CLAIM_LOCK = "ai-usage-pipeline:runs:claim"
_ACTIVE = sql_list(ACTIVE_RUN_STATUSES)
_UNFINISHED = sql_list(UNFINISHED_SOURCE_STATUSES)


@dataclass(frozen=True)
class ClaimedPart:
    run_id: uuid.UUID
    part_no: int
    account: str
    sources: tuple[str, ...]
    window_start: date
    window_end: date
    trigger: RunTrigger
    windows: dict[str, tuple[date, date]]  # the account's sources' own sub-windows


@dataclass(frozen=True)
class FinishedRun:
    """A run this call finished: its outcome, and how long it ran."""

    run_id: uuid.UUID
    status: RunStatus
    reason: str | None
    trigger: RunTrigger
    seconds: float | None
    sources: tuple[SourceProgress, ...] = ()


@dataclass(frozen=True)
class PartEnd:
    """How a part ended, and why (a cancelled part: the cancel's reason)."""

    status: RunStatus
    reason: str | None


# Decides a finished run's status and reason from how its parts ended and its sources' progress.
Decide = Callable[[Sequence[PartEnd], Sequence[SourceProgress]], tuple[RunStatus, str | None]]

_CLAIM = f"""
    SELECT p.run_id, p.part_no, p.account, p.sources, r.window_start, r.window_end, r.trigger,
           r.source_windows
      FROM ingestion_run_parts p
      JOIN ingestion_runs r ON r.id = p.run_id
     WHERE p.status = '{RunStatus.QUEUED}' AND r.status IN ({_ACTIVE})
       AND r.cancel_requested_at IS NULL AND p.worker_id IS NOT DISTINCT FROM $1
       AND NOT EXISTS (
           SELECT 1 FROM ingestion_run_parts q JOIN ingestion_runs o ON o.id = q.run_id
            WHERE q.status = '{RunStatus.RUNNING}' AND q.run_id <> p.run_id
              AND q.account = p.account AND q.sources && p.sources
              AND o.window_start <= r.window_end AND o.window_end >= r.window_start)
     ORDER BY r.created_at, r.id, p.part_no
     LIMIT 1
     FOR UPDATE OF p SKIP LOCKED
"""


async def claim_part(
    connection: asyncpg.Connection, worker_id: str, reserved_for: str | None = None
) -> ClaimedPart | None:
    """Claim the oldest queued part that overlaps no running part of another run: one
    reserved for `reserved_for`, or (None) one nobody reserved."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _CLAIM_LOCK)
        row = await connection.fetchrow(_CLAIM, reserved_for)
        if row is None:
            return None
        await connection.execute(
            f"UPDATE ingestion_run_parts SET status = '{RunStatus.RUNNING}', worker_id = $3,"
            " started_at = now(), heartbeat_at = now() WHERE run_id = $1 AND part_no = $2",
            row["run_id"],
            row["part_no"],
            worker_id,
        )
        await connection.execute(
            f"UPDATE ingestion_runs SET status = '{RunStatus.RUNNING}',"
            " worker_id = coalesce(worker_id, $2), started_at = coalesce(started_at, now()),"
            " heartbeat_at = now() WHERE id = $1",
            row["run_id"],
            worker_id,
        )
    windows = windows_from_json(row["source_windows"]) or {}
    return ClaimedPart(
        row["run_id"],
        row["part_no"],
        row["account"],
        tuple(row["sources"]),
        row["window_start"],
        row["window_end"],
        RunTrigger(row["trigger"]),
        windows.get(row["account"], {}),
    )


async def heartbeat_part(connection: asyncpg.Connection, run_id: uuid.UUID, part_no: int) -> bool:
    """Refresh the part's (and its run's) heartbeat; True when the run is to be cancelled."""
    cancel_requested: bool | None = await connection.fetchval(
        """
        WITH part AS (
            UPDATE ingestion_run_parts SET heartbeat_at = now()
             WHERE run_id = $1 AND part_no = $2
        )
        UPDATE ingestion_runs SET heartbeat_at = now() WHERE id = $1
        RETURNING cancel_requested_at IS NOT NULL
        """,
        run_id,
        part_no,
    )
    return bool(cancel_requested)


async def heartbeat_run(connection: asyncpg.Connection, run_id: uuid.UUID) -> RunStatus:
    """The run's own heartbeat (a CLI run's, covering its parts no worker claimed yet), and
    its status."""
    status: str = await connection.fetchval(
        "UPDATE ingestion_runs SET heartbeat_at = now() WHERE id = $1 RETURNING status", run_id
    )
    return RunStatus(status)


async def finish_part(
    connection: asyncpg.Connection,
    run_id: uuid.UUID,
    part_no: int,
    status: RunStatus,
    reason: str | None = None,
) -> None:
    await connection.execute(
        "UPDATE ingestion_run_parts SET status = $3, status_reason = $4, finished_at = now(),"
        f" heartbeat_at = now() WHERE run_id = $1 AND part_no = $2 AND status IN ({_ACTIVE})",
        run_id,
        part_no,
        RunStatus(status).value,
        reason,
    )


async def end_part_sources(
    connection: asyncpg.Connection,
    run_id: uuid.UUID,
    part_no: int | None,
    status: SourceStatus,
    reason: str,
) -> None:
    """The part's (every part's, with `part_no` None) sources still going end with `status`."""
    await connection.execute(
        f"""
        UPDATE ingestion_run_sources s
           SET status = $3, finished_at = now(), last_error = coalesce(last_error, $4),
               updated_at = now()
          FROM ingestion_run_parts p
         WHERE s.run_id = $1 AND p.run_id = $1 AND ($2::int IS NULL OR p.part_no = $2)
           AND s.account = p.account AND s.source = ANY (p.sources)
           AND s.status IN ({_UNFINISHED})
        """,
        run_id,
        part_no,
        SourceStatus(status).value,
        reason,
    )


async def finish_run_if_done(
    connection: asyncpg.Connection, run_id: uuid.UUID, decide: Decide
) -> FinishedRun | None:
    """Record the run's outcome once no part of it is queued or running; None while parts
    remain (or when the run was finished already)."""
    async with connection.transaction():
        run = await connection.fetchrow(
            "SELECT status, trigger, extract(epoch FROM now() - started_at)::float8 AS seconds"
            " FROM ingestion_runs WHERE id = $1 FOR UPDATE",
            run_id,
        )
        if run is None or RunStatus(run["status"]) in TERMINAL_RUN_STATUSES:
            return None
        parts = [
            PartEnd(RunStatus(row["status"]), row["status_reason"])
            for row in await connection.fetch(
                "SELECT status, status_reason FROM ingestion_run_parts WHERE run_id = $1"
                " ORDER BY part_no",
                run_id,
            )
        ]
        if any(part.status in ACTIVE_RUN_STATUSES for part in parts):
            return None
        rows = await connection.fetch(
            "SELECT * FROM ingestion_run_sources WHERE run_id = $1 ORDER BY account, source",
            run_id,
        )
        sources = tuple(SourceProgress.from_row(row) for row in rows)
        status, reason = decide(parts, sources)
        await finish_run(connection, run_id, status, reason)
    trigger = RunTrigger(run["trigger"])
    return FinishedRun(run_id, status, reason, trigger, run["seconds"], sources)


async def reap_stale_parts(
    connection: asyncpg.Connection, timeout_seconds: float, decide: Decide
) -> list[FinishedRun]:
    """Parts whose worker stopped heartbeating (its process died) end `crashed`, their sources
    `failed`; runs left with no active part are finished. Returns the runs finished."""
    async with connection.transaction():
        crashed = await connection.fetch(
            f"""
            UPDATE ingestion_run_parts
               SET status = '{RunStatus.CRASHED}', finished_at = now(),
                   status_reason = 'worker ' || coalesce(worker_id, '?') || ' stopped heartbeating'
             WHERE status = '{RunStatus.RUNNING}'
               AND heartbeat_at < now() - make_interval(secs => $1)
            RETURNING run_id, part_no, worker_id
            """,
            timeout_seconds,
        )
        # Parts reserved by a process whose run stopped heartbeating never start.
        crashed += await connection.fetch(
            f"""
            UPDATE ingestion_run_parts p
               SET status = '{RunStatus.CRASHED}', finished_at = now(),
                   status_reason = 'worker ' || p.worker_id || ' stopped heartbeating'
              FROM ingestion_runs r
             WHERE r.id = p.run_id AND p.status = '{RunStatus.QUEUED}'
               AND p.worker_id IS NOT NULL
               AND r.heartbeat_at < now() - make_interval(secs => $1)
            RETURNING p.run_id, p.part_no, p.worker_id
            """,
            timeout_seconds,
        )
        for row in crashed:
            reason = f"worker {row['worker_id'] or '?'} stopped heartbeating"
            await end_part_sources(
                connection, row["run_id"], row["part_no"], SourceStatus.FAILED, reason
            )
    # Runs whose last part ended without the run being finished (crashed, or the worker lost
    # the database just then).
    orphans = await connection.fetch(
        f"""
        SELECT r.id FROM ingestion_runs r
         WHERE r.status = '{RunStatus.RUNNING}'
           AND NOT EXISTS (SELECT 1 FROM ingestion_run_parts p
                            WHERE p.run_id = r.id AND p.status IN ({_ACTIVE}))
        """
    )
    finished = [await finish_run_if_done(connection, row["id"], decide) for row in orphans]
    return [run for run in finished if run is not None]


async def cancel_queued_parts(connection: asyncpg.Connection, run_id: uuid.UUID) -> None:
    """A cancelled run's parts that have not started never will."""
    await connection.execute(
        f"""
        WITH parts AS (
            UPDATE ingestion_run_parts
               SET status = '{RunStatus.CANCELLED}', finished_at = now(),
                   status_reason = 'cancelled by request'
             WHERE run_id = $1 AND status = '{RunStatus.QUEUED}'
            RETURNING account, sources
        )
        UPDATE ingestion_run_sources s
           SET status = '{SourceStatus.CANCELLED}', finished_at = now(),
               last_error = coalesce(last_error, 'cancelled by request'), updated_at = now()
          FROM parts p
         WHERE s.run_id = $1 AND s.account = p.account AND s.source = ANY (p.sources)
           AND s.status IN ({_UNFINISHED})
        """,
        run_id,
    )


async def request_cancel(
    connection: asyncpg.Connection, run_id: uuid.UUID, decide: Decide
) -> tuple[RunStatus, bool] | None:
    """Queued → cancelled now; running → its parts not started are cancelled, the running ones
    asked to stop at the next page boundary (the run ends when they have, or now if none runs).

    Returns (status afterwards, whether the request was accepted); None for an unknown run."""
    queued, cancelled = RunStatus.QUEUED, RunStatus.CANCELLED
    status: str | None = await connection.fetchval(
        f"""
        UPDATE ingestion_runs
           SET status = CASE WHEN status = '{queued}' THEN '{cancelled}' ELSE status END,
               finished_at = CASE WHEN status = '{queued}' THEN now() ELSE finished_at END,
               status_reason = CASE WHEN status = '{queued}' THEN 'cancelled by request'
                                    ELSE status_reason END,
               cancel_requested_at = coalesce(cancel_requested_at, now())
         WHERE id = $1 AND status IN ({sql_list(ACTIVE_RUN_STATUSES)})
        RETURNING status
        """,
        run_id,
    )
    if status is not None:
        await cancel_queued_parts(connection, run_id)
        if status == RunStatus.RUNNING and (
            ended := await finish_run_if_done(connection, run_id, decide)
        ):
            status = ended.status
        return RunStatus(status), True
    current: str | None = await connection.fetchval(
        "SELECT status FROM ingestion_runs WHERE id = $1", run_id
    )
    return None if current is None else (RunStatus(current), False)
