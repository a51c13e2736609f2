"""Bulk, idempotent writes of the fact tables (asyncpg).

A (source, day) is written in one transaction: its rows are COPYed (binary) into a session
temp table, merged into the fact table with `INSERT … ON CONFLICT … DO UPDATE … WHERE (…) IS
DISTINCT FROM (…)` (unchanged rows are not rewritten, `first_seen_at` stays, `updated_at` and
`run_id` move only on a real change), and rows of that (source, day) the upstream no longer
reports are deleted. The day therefore ends up exactly as the upstream states it, or — on any
failure — exactly as it was.

Cursor windows come in pages of users across many days, so a day is complete only at the end
of a window: those pages land in a per-connection temp table first (`CursorLanding`) and are
merged day by day from there, keeping memory flat.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any

import asyncpg

from app.processing.facts import (
    CLAUDE_COLUMNS,
    CLAUDE_COST_COLUMNS,
    CURSOR_COLUMNS,
    CURSOR_COUNTERS,
    ClaudeFact,
    ClaudeSource,
    CursorFact,
)

CURSOR_TABLE = "fact_cursor_daily_usage"
CLAUDE_TABLE = "fact_claude_daily_usage"
CURSOR_KEY = ("usage_date", "email")
CLAUDE_KEY = ("usage_date", "grain_key")

_cursor_row = attrgetter(*CURSOR_COLUMNS)
_claude_row = attrgetter(*CLAUDE_COLUMNS)


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        return self


def _merge_sql(
    table: str, source_sql: str, columns: Sequence[str], key: Sequence[str], compared: Sequence[str]
) -> str:
    """Upsert the rows of `source_sql` (parameter $1 = day, $2 = run id)."""
    column_list = ", ".join(columns)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in compared)
    target = ", ".join(f"{table}.{column}" for column in compared)
    incoming = ", ".join(f"EXCLUDED.{column}" for column in compared)
    return f"""
        WITH merged AS (
            INSERT INTO {table} AS {table} ({column_list}, run_id)
            SELECT {column_list}, $2::uuid FROM ({source_sql}) AS incoming
            ON CONFLICT ({", ".join(key)}) DO UPDATE
               SET {updates}, run_id = EXCLUDED.run_id, updated_at = now()
             WHERE ({target}) IS DISTINCT FROM ({incoming})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted) AS inserted,
               count(*) FILTER (WHERE NOT inserted) AS updated
          FROM merged
    """


async def _merge(
    connection: asyncpg.Connection, sql: str, day: date, run_id: uuid.UUID | None, staged: int
) -> WriteCounts:
    record = await connection.fetchrow(sql, day, run_id)
    assert record is not None
    inserted, updated = int(record["inserted"]), int(record["updated"])
    return WriteCounts(inserted=inserted, updated=updated, unchanged=staged - inserted - updated)


# --- Claude ------------------------------------------------------------------------------------

_CLAUDE_STAGE = "stage_claude"
_CLAUDE_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_CLAUDE_STAGE} "
    f"(LIKE {CLAUDE_TABLE} INCLUDING GENERATED INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_CLAUDE_NON_KEY = tuple(column for column in CLAUDE_COLUMNS if column != "usage_date")
_CLAUDE_MERGE_ALL = _merge_sql(
    CLAUDE_TABLE,
    f"SELECT * FROM {_CLAUDE_STAGE} WHERE usage_date = $1",
    CLAUDE_COLUMNS,
    CLAUDE_KEY,
    _CLAUDE_NON_KEY,
)
# Token rows written without a cost report keep whatever cost an earlier run allocated.
_CLAUDE_MERGE_KEEP_COST = _merge_sql(
    CLAUDE_TABLE,
    f"SELECT * FROM {_CLAUDE_STAGE} WHERE usage_date = $1",
    CLAUDE_COLUMNS,
    CLAUDE_KEY,
    tuple(column for column in _CLAUDE_NON_KEY if column not in CLAUDE_COST_COLUMNS),
)
_CLAUDE_DELETE_STALE = f"""
    DELETE FROM {CLAUDE_TABLE} AS fact
     WHERE fact.usage_date = $1 AND fact.source = $2
       AND NOT EXISTS (SELECT 1 FROM {_CLAUDE_STAGE} AS staged
                        WHERE staged.usage_date = fact.usage_date
                          AND staged.grain_key = fact.grain_key)
"""


_CLAUDE_DAY_EXISTS = (
    f"SELECT EXISTS (SELECT 1 FROM {CLAUDE_TABLE} WHERE usage_date = $1 AND source = $2)"
)


def _claude_row_with_run(run_id: uuid.UUID | None) -> Any:
    def row(fact: ClaudeFact) -> tuple[Any, ...]:
        return (*_claude_row(fact), run_id)

    return row


@dataclass(frozen=True)
class ClaudeDayWrite:
    """One source's complete rows for one day."""

    source: ClaudeSource
    facts: Sequence[ClaudeFact]
    keep_existing_cost: bool = False


async def replace_claude_days(
    connection: asyncpg.Connection,
    day: date,
    writes: Sequence[ClaudeDayWrite],
    run_id: uuid.UUID | None,
) -> dict[ClaudeSource, WriteCounts]:
    """Replace several sources' rows of one day in ONE transaction (usage and its cost
    allocation must land together)."""
    counts: dict[ClaudeSource, WriteCounts] = {}
    async with connection.transaction():
        await connection.execute(_CLAUDE_STAGE_DDL)
        # The stale-row anti-join probes this index; without it a planner working from stale
        # statistics picks a nested loop over the whole stage per row (quadratic per day).
        await connection.execute(
            f"CREATE INDEX IF NOT EXISTS {_CLAUDE_STAGE}_key ON {_CLAUDE_STAGE} (grain_key)"
        )
        for write in writes:
            if any(fact.usage_date != day for fact in write.facts):
                raise ValueError(f"{write.source}: facts of another day in the write for {day}")
            if len({fact.key() for fact in write.facts}) != len(write.facts):
                raise ValueError(f"{write.source}: duplicate grain in the write for {day}")
            if not await connection.fetchval(_CLAUDE_DAY_EXISTS, day, write.source):
                # A first load of this (source, day): nothing to compare, update or delete.
                await connection.copy_records_to_table(
                    CLAUDE_TABLE,
                    records=map(_claude_row_with_run(run_id), write.facts),
                    columns=(*CLAUDE_COLUMNS, "run_id"),
                )
                counts[write.source] = WriteCounts(inserted=len(write.facts))
                continue
            await connection.execute(f"TRUNCATE {_CLAUDE_STAGE}")
            await connection.copy_records_to_table(
                _CLAUDE_STAGE, records=map(_claude_row, write.facts), columns=CLAUDE_COLUMNS
            )
            sql = _CLAUDE_MERGE_KEEP_COST if write.keep_existing_cost else _CLAUDE_MERGE_ALL
            result = await _merge(connection, sql, day, run_id, len(write.facts))
            status = await connection.execute(_CLAUDE_DELETE_STALE, day, write.source)
            result.deleted = int(status.split()[-1])
            counts[write.source] = result
    return counts


# --- Cursor ------------------------------------------------------------------------------------

_CURSOR_LANDING = "landing_cursor"
# Two upstream rows for one (day, email) — e.g. the same address in two letter cases — are
# folded into one: counters add up, nothing is lost.
_CURSOR_DAY_SQL = f"""
    SELECT usage_date, email, min(cursor_user_id) AS cursor_user_id,
           bool_or(is_active) AS is_active,
           {", ".join(f"sum({c})::bigint AS {c}" for c in CURSOR_COUNTERS)},
           max(most_used_model) AS most_used_model,
           max(apply_most_used_extension) AS apply_most_used_extension,
           max(tab_most_used_extension) AS tab_most_used_extension,
           max(client_version) AS client_version,
           min(attribution_method) AS attribution_method,
           min(attribution_confidence) AS attribution_confidence
      FROM {_CURSOR_LANDING} WHERE usage_date = $1
     GROUP BY usage_date, email
"""
_CURSOR_MERGE = _merge_sql(
    CURSOR_TABLE,
    _CURSOR_DAY_SQL,
    CURSOR_COLUMNS,
    CURSOR_KEY,
    tuple(column for column in CURSOR_COLUMNS if column not in CURSOR_KEY),
)
_CURSOR_DELETE_STALE = f"""
    DELETE FROM {CURSOR_TABLE} AS fact
     WHERE fact.usage_date = $1
       AND NOT EXISTS (SELECT 1 FROM {_CURSOR_LANDING} AS landed
                        WHERE landed.usage_date = fact.usage_date AND landed.email = fact.email)
"""


class CursorLanding:
    """Pages of one Cursor window, landed on one connection until the window is complete."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def open(self) -> None:
        await self._connection.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_CURSOR_LANDING} "
            f"(LIKE {CURSOR_TABLE} INCLUDING DEFAULTS)"
        )
        await self._connection.execute(
            f"CREATE INDEX IF NOT EXISTS {_CURSOR_LANDING}_key"
            f" ON {_CURSOR_LANDING} (usage_date, email)"
        )
        await self.clear()

    async def clear(self) -> None:
        await self._connection.execute(f"TRUNCATE {_CURSOR_LANDING}")

    async def land(self, facts: Sequence[CursorFact]) -> None:
        if facts:
            await self._connection.copy_records_to_table(
                _CURSOR_LANDING, records=map(_cursor_row, facts), columns=CURSOR_COLUMNS
            )

    async def days(self) -> list[date]:
        rows = await self._connection.fetch(
            f"SELECT DISTINCT usage_date FROM {_CURSOR_LANDING} ORDER BY usage_date"
        )
        return [row["usage_date"] for row in rows]

    async def merge_day(self, day: date, run_id: uuid.UUID | None) -> WriteCounts:
        """Replace one day of the fact table with the landed rows, in one transaction."""
        async with self._connection.transaction():
            staged = await self._connection.fetchval(
                f"SELECT count(DISTINCT email) FROM {_CURSOR_LANDING} WHERE usage_date = $1", day
            )
            counts = await _merge(self._connection, _CURSOR_MERGE, day, run_id, int(staged))
            status = await self._connection.execute(_CURSOR_DELETE_STALE, day)
            counts.deleted = int(status.split()[-1])
        return counts
