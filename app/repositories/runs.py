"""Run tracking: `ingestion_runs` and one `ingestion_run_sources` row per source.

Runs leave this module as typed records (`RunRecord`, `SourceProgress`); the API schema and the
CLI render those, so a run is never passed around as a loose dict.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from app.json_value import JsonObject
from app.vocabulary import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    UNFINISHED_SOURCE_STATUSES,
    RunStatus,
    RunTrigger,
    SourceStatus,
    sql_list,
)


@dataclass
class SourceProgress:
    """What one source has done so far in a run (written while it goes)."""

    source: str
    target_table: str
    status: SourceStatus = SourceStatus.PENDING
    days_total: int = 0
    days_done: int = 0
    pages: int = 0
    rows_fetched: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_deleted: int = 0
    rows_skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # What a source measured beyond rows (e.g. the Cursor spend reconciliation).
    details: dict[str, object] = field(default_factory=dict)  # what a source measured (JSON)
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    last_error: str | None = None
    upstream_status: int | None = None
    started_at: datetime | None = field(default=None)
    finished_at: datetime | None = field(default=None)

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> SourceProgress:
        values = {name: row[name] for name in _SOURCE_FIELDS}
        values["status"] = SourceStatus(values["status"])
        for name in _JSON_FIELDS:
            values[name] = json.loads(values[name]) if values[name] is not None else {}
        return cls(**values)


_SOURCE_FIELDS = tuple(f.name for f in fields(SourceProgress))
_JSON_FIELDS = ("skipped_by_reason", "warnings", "details")  # jsonb columns
_PROGRESS_COLUMNS = tuple(name for name in _SOURCE_FIELDS if name not in ("source", "target_table"))


class RunRecord(BaseModel):
    """A run as stored: what was asked, where it stands, and each source's progress. The API's
    run resource extends it (app.api.schemas.RunOut), so the fields are declared once."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    status: RunStatus
    trigger: RunTrigger
    window_start: date
    window_end: date
    sources: tuple[str, ...]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    scheduled_for: datetime | None
    cancel_requested_at: datetime | None
    status_reason: str | None
    worker_id: str | None
    requested_by: str | None = Field(
        default=None, description="The API token's name, `schedule` or `cli`."
    )
    source_windows: dict[str, tuple[date, date]] | None = None
    progress: tuple[SourceProgress, ...] = ()


_RUN_COLUMNS = ", ".join(name for name in RunRecord.model_fields if name != "progress")


def _record(row: asyncpg.Record, progress: list[SourceProgress]) -> RunRecord:
    values = dict(row)
    values["source_windows"] = windows_from_json(values["source_windows"])
    return RunRecord(**values, progress=tuple(progress))


SourceWindows = Mapping[str, tuple[date, date]]


def windows_to_json(windows: SourceWindows | None) -> str | None:
    if not windows:
        return None
    return json.dumps(
        {name: [start.isoformat(), end.isoformat()] for name, (start, end) in windows.items()}
    )


def windows_from_json(text: str | None) -> dict[str, tuple[date, date]] | None:
    if text is None:
        return None
    return {
        name: (date.fromisoformat(start), date.fromisoformat(end))
        for name, (start, end) in json.loads(text).items()
    }


async def create_run(
    connection: asyncpg.Connection,
    *,
    trigger: RunTrigger | str,
    window_start: date,
    window_end: date,
    sources: list[str],
    status: RunStatus = RunStatus.QUEUED,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
    schedule_job: str | None = None,
    scheduled_for: datetime | None = None,
    source_windows: SourceWindows | None = None,
    requested_by: str | None = None,
) -> uuid.UUID:
    """`requested_by` defaults to the trigger's name (`schedule`, `cli`)."""
    # A run created `running` (a CLI run) heartbeats from its first moment, so the reaper
    # ends it `crashed` should its process die before the run's tracker starts.
    run_id: uuid.UUID = await connection.fetchval(
        f"""
        INSERT INTO ingestion_runs
               (status, trigger, window_start, window_end, sources,
                idempotency_key, request_fingerprint, schedule_job, scheduled_for,
                source_windows, requested_by, started_at, heartbeat_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11,
                CASE WHEN $1 = '{RunStatus.RUNNING}' THEN now() END,
                CASE WHEN $1 = '{RunStatus.RUNNING}' THEN now() END)
        RETURNING id
        """,
        RunStatus(status).value,
        RunTrigger(trigger).value,
        window_start,
        window_end,
        sources,
        idempotency_key,
        request_fingerprint,
        schedule_job,
        scheduled_for,
        windows_to_json(source_windows),
        requested_by or RunTrigger(trigger).value,
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
            f"""
            UPDATE ingestion_runs
               SET status = '{RunStatus.RUNNING}', worker_id = $2,
                   started_at = coalesce(started_at, now()), heartbeat_at = now()
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
    values["status"] = SourceStatus(values["status"]).value
    for name in _JSON_FIELDS:
        values[name] = json.dumps(values[name])
    assignments = ", ".join(
        f"{name} = ${i + 3}{'::jsonb' if name in _JSON_FIELDS else ''}"
        for i, name in enumerate(_PROGRESS_COLUMNS)
    )
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
    connection: asyncpg.Connection, run_id: uuid.UUID, status: RunStatus, reason: str | None
) -> None:
    if status not in TERMINAL_RUN_STATUSES:
        raise ValueError(f"not a terminal status: {status}")
    await connection.execute(
        """
        UPDATE ingestion_runs
           SET status = $2, status_reason = $3, finished_at = now(), heartbeat_at = now()
         WHERE id = $1
        """,
        run_id,
        RunStatus(status).value,
        reason,
    )


async def get_run(connection: asyncpg.Connection, run_id: uuid.UUID) -> RunRecord | None:
    runs = await _runs_with_sources(
        connection,
        await connection.fetch(f"SELECT {_RUN_COLUMNS} FROM ingestion_runs WHERE id = $1", run_id),
    )
    return runs[0] if runs else None


async def _runs_with_sources(
    connection: asyncpg.Connection, rows: list[asyncpg.Record]
) -> list[RunRecord]:
    if not rows:
        return []
    sources = await connection.fetch(
        "SELECT * FROM ingestion_run_sources WHERE run_id = ANY($1::uuid[]) ORDER BY source",
        [row["id"] for row in rows],
    )
    progress: dict[uuid.UUID, list[SourceProgress]] = {row["id"]: [] for row in rows}
    for source in sources:
        progress[source["run_id"]].append(SourceProgress.from_row(source))
    return [_record(row, progress[row["id"]]) for row in rows]


async def mark_stale_runs_crashed(
    connection: asyncpg.Connection, timeout_seconds: float
) -> list[tuple[uuid.UUID, RunTrigger]]:
    """Runs whose worker stopped heartbeating (its process died) end `crashed`."""
    async with connection.transaction():
        rows = await connection.fetch(
            f"""
            UPDATE ingestion_runs
               SET status = '{RunStatus.CRASHED}', finished_at = now(),
                   status_reason = 'worker ' || coalesce(worker_id, '?')
                                   || ' stopped heartbeating'
             WHERE status = '{RunStatus.RUNNING}'
               AND heartbeat_at < now() - make_interval(secs => $1)
            RETURNING id, trigger
            """,
            timeout_seconds,
        )
        ids = [row["id"] for row in rows]
        if ids:
            await connection.execute(
                f"UPDATE ingestion_run_sources SET status = '{SourceStatus.FAILED}',"
                " finished_at = now(), last_error = coalesce(last_error, 'run crashed'),"
                " updated_at = now()"
                f" WHERE run_id = ANY($1::uuid[])"
                f" AND status IN ({sql_list(UNFINISHED_SOURCE_STATUSES)})",
                ids,
            )
    return [(row["id"], RunTrigger(row["trigger"])) for row in rows]


async def request_cancel(
    connection: asyncpg.Connection, run_id: uuid.UUID
) -> tuple[RunStatus, bool] | None:
    """Queued → cancelled now; running → asked to stop at the next page boundary.

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
        return RunStatus(status), True
    current: str | None = await connection.fetchval(
        "SELECT status FROM ingestion_runs WHERE id = $1", run_id
    )
    return None if current is None else (RunStatus(current), False)


async def list_runs(
    connection: asyncpg.Connection,
    *,
    status: RunStatus | None,
    trigger: RunTrigger | None,
    limit: int,
    before: uuid.UUID | None,
) -> list[RunRecord]:
    """Newest first; keyset pagination on (created_at, id) after the run `before`."""
    rows = await connection.fetch(
        f"""
        SELECT {_RUN_COLUMNS} FROM ingestion_runs r
         WHERE ($1::text IS NULL OR r.status = $1)
           AND ($2::text IS NULL OR r.trigger = $2)
           AND ($3::uuid IS NULL OR (r.created_at, r.id) <
                (SELECT b.created_at, b.id FROM ingestion_runs b WHERE b.id = $3))
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT $4
        """,
        None if status is None else RunStatus(status).value,
        None if trigger is None else RunTrigger(trigger).value,
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
            f"UPDATE ingestion_run_sources SET status = '{SourceStatus.CANCELLED}',"
            " finished_at = now(), last_error = coalesce(last_error, $2), updated_at = now()"
            f" WHERE run_id = $1 AND status IN ({sql_list(UNFINISHED_SOURCE_STATUSES)})",
            run_id,
            reason,
        )
        await connection.execute(
            f"UPDATE ingestion_runs SET status = '{RunStatus.CANCELLED}', status_reason = $2,"
            f" finished_at = now() WHERE id = $1 AND status IN ({sql_list(ACTIVE_RUN_STATUSES)})",
            run_id,
            reason,
        )


async def latest_details(
    connection: asyncpg.Connection, sources: Sequence[str]
) -> dict[str, JsonObject]:
    """Each source's `details` from its latest succeeded run that measured any."""
    rows = await connection.fetch(
        """
        SELECT DISTINCT ON (source) source, details FROM ingestion_run_sources
         WHERE source = ANY($1::text[]) AND status = 'succeeded'
           AND details IS NOT NULL AND details <> '{}'::jsonb
         ORDER BY source, finished_at DESC NULLS LAST
        """,
        list(sources),
    )
    return {row["source"]: json.loads(row["details"]) for row in rows}
