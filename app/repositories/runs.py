"""Run tracking: `ingestion_runs`, its parts (`app.repositories.run_parts`) and one
`ingestion_run_sources` row per (account, source).

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

from app.accounts import DEFAULT_ACCOUNT
from app.json_value import JsonObject
from app.vocabulary import (
    TERMINAL_RUN_STATUSES,
    RunStatus,
    RunTrigger,
    SourceStatus,
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
    account: str = DEFAULT_ACCOUNT

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> SourceProgress:
        values = {name: row[name] for name in _SOURCE_FIELDS}
        values["status"] = SourceStatus(values["status"])
        for name in _JSON_FIELDS:
            values[name] = json.loads(values[name]) if values[name] is not None else {}
        return cls(**values)


_SOURCE_FIELDS = tuple(f.name for f in fields(SourceProgress))
_JSON_FIELDS = ("skipped_by_reason", "warnings", "details")  # jsonb columns
_PROGRESS_COLUMNS = tuple(
    name for name in _SOURCE_FIELDS if name not in ("source", "target_table", "account")
)


@dataclass(frozen=True)
class PartRecord:
    """One part of a run: an account's sources that ran together, and who ran them."""

    part_no: int
    account: str
    sources: tuple[str, ...]
    status: RunStatus
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime | None


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
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    source_windows: dict[str, dict[str, tuple[date, date]]] | None = Field(
        default=None, description="Sub-windows of a heal run: {account: {source: [first, last]}}."
    )
    parts: tuple[PartRecord, ...] = ()
    progress: tuple[SourceProgress, ...] = ()


_RUN_COLUMNS = ", ".join(
    name for name in RunRecord.model_fields if name not in ("progress", "parts")
)


def _record(
    row: asyncpg.Record, progress: list[SourceProgress], parts: list[PartRecord]
) -> RunRecord:
    values = dict(row)
    values["source_windows"] = windows_from_json(values["source_windows"])
    return RunRecord(**values, progress=tuple(progress), parts=tuple(parts))


SourceWindows = Mapping[str, Mapping[str, tuple[date, date]]]  # {account: {source: window}}


def windows_to_json(windows: SourceWindows | None) -> str | None:
    if not windows:
        return None
    return json.dumps(
        {
            account: {
                name: [start.isoformat(), end.isoformat()] for name, (start, end) in of.items()
            }
            for account, of in windows.items()
        }
    )


def windows_from_json(text: str | None) -> dict[str, dict[str, tuple[date, date]]] | None:
    if text is None:
        return None
    return {
        account: {
            name: (date.fromisoformat(start), date.fromisoformat(end))
            for name, (start, end) in of.items()
        }
        for account, of in json.loads(text).items()
    }


@dataclass(frozen=True)
class NewRun:
    """What a run is made of, as it is stored: its window, accounts and sources, the parts
    workers claim (account, sources) and each source's table (its progress rows)."""

    window_start: date
    window_end: date
    sources: list[str]
    accounts: list[str]
    parts: Sequence[tuple[str, Sequence[str]]]
    tables: Mapping[str, str]
    source_windows: SourceWindows | None = None

    def days_of(self, account: str, source: str) -> int:
        windows = (self.source_windows or {}).get(account, {})
        start, end = windows.get(source, (self.window_start, self.window_end))
        return (end - start).days + 1


async def create_run(
    connection: asyncpg.Connection,
    run: NewRun,
    *,
    trigger: RunTrigger | str,
    status: RunStatus = RunStatus.QUEUED,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
    schedule_job: str | None = None,
    scheduled_for: datetime | None = None,
    requested_by: str | None = None,
    worker_id: str | None = None,
    parts_queued: bool = False,
) -> uuid.UUID | None:
    """The run, its parts and a pending progress row per (account, source); None when a
    scheduled run of the same (job, slot) exists. `requested_by` defaults to the trigger's
    name (`schedule`, `cli`). A run created `running` (a CLI run, executed by `worker_id`) has
    its parts claimed by that worker and heartbeating from their first moment, so the reaper
    ends them `crashed` should its process die before they start — or, `parts_queued`,
    queued and reserved for that worker's processes (the run's heartbeat covers them)."""
    run_id: uuid.UUID | None = await connection.fetchval(
        f"""
        INSERT INTO ingestion_runs
               (status, trigger, window_start, window_end, sources, accounts,
                idempotency_key, request_fingerprint, schedule_job, scheduled_for,
                source_windows, requested_by, worker_id, started_at, heartbeat_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13,
                CASE WHEN $1 = '{RunStatus.RUNNING}' THEN now() END,
                CASE WHEN $1 = '{RunStatus.RUNNING}' THEN now() END)
        ON CONFLICT (schedule_job, scheduled_for) DO NOTHING
        RETURNING id
        """,
        RunStatus(status).value,
        RunTrigger(trigger).value,
        run.window_start,
        run.window_end,
        run.sources,
        run.accounts,
        idempotency_key,
        request_fingerprint,
        schedule_job,
        scheduled_for,
        windows_to_json(run.source_windows),
        requested_by or RunTrigger(trigger).value,
        worker_id,
    )
    if run_id is not None:
        part_status = RunStatus.QUEUED if parts_queued else status
        await _create_parts(connection, run_id, run, part_status, worker_id)
    return run_id


async def _create_parts(
    connection: asyncpg.Connection,
    run_id: uuid.UUID,
    run: NewRun,
    status: RunStatus,
    worker_id: str | None,
) -> None:
    await connection.executemany(
        """
        INSERT INTO ingestion_run_parts (run_id, part_no, account, sources, status, worker_id,
                                         started_at, heartbeat_at)
        VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'running' THEN now() END,
                CASE WHEN $5 = 'running' THEN now() END)
        """,
        [
            (run_id, part_no, account, list(sources), RunStatus(status).value, worker_id)
            for part_no, (account, sources) in enumerate(run.parts)
        ],
    )
    await connection.executemany(
        "INSERT INTO ingestion_run_sources (run_id, account, source, target_table, days_total)"
        " VALUES ($1, $2, $3, $4, $5)",
        [
            (run_id, account, source, run.tables[source], run.days_of(account, source))
            for account, sources in run.parts
            for source in sources
        ],
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
        f" WHERE run_id = $1 AND source = $2 AND account = ${len(_PROGRESS_COLUMNS) + 3}",
        run_id,
        progress.source,
        *(values[name] for name in _PROGRESS_COLUMNS),
        progress.account,
    )


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
    ids = [row["id"] for row in rows]
    sources = await connection.fetch(
        "SELECT * FROM ingestion_run_sources WHERE run_id = ANY($1::uuid[])"
        " ORDER BY account, source",
        ids,
    )
    progress: dict[uuid.UUID, list[SourceProgress]] = {row["id"]: [] for row in rows}
    for source in sources:
        progress[source["run_id"]].append(SourceProgress.from_row(source))
    parts: dict[uuid.UUID, list[PartRecord]] = {row["id"]: [] for row in rows}
    for part in await connection.fetch(
        "SELECT run_id, part_no, account, sources, status, worker_id, started_at, finished_at"
        " FROM ingestion_run_parts WHERE run_id = ANY($1::uuid[]) ORDER BY part_no",
        ids,
    ):
        parts[part["run_id"]].append(
            PartRecord(
                part["part_no"], part["account"], tuple(part["sources"]),
                RunStatus(part["status"]), part["worker_id"], part["started_at"],
                part["finished_at"],
            )
        )  # fmt: skip
    return [_record(row, progress[row["id"]], parts[row["id"]]) for row in rows]


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


async def latest_details(
    connection: asyncpg.Connection, sources: Sequence[str]
) -> dict[tuple[str, str], JsonObject]:
    """Each (account, source)'s `details` from its latest succeeded run that measured any."""
    rows = await connection.fetch(
        """
        SELECT DISTINCT ON (account, source) account, source, details
          FROM ingestion_run_sources
         WHERE source = ANY($1::text[]) AND status = 'succeeded'
           AND details IS NOT NULL AND details <> '{}'::jsonb
         ORDER BY account, source, finished_at DESC NULLS LAST
        """,
        list(sources),
    )
    return {(row["account"], row["source"]): json.loads(row["details"]) for row in rows}
