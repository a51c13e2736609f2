"""Bulk, idempotent writes of the fact tables (asyncpg).

A (source, day) is written in one transaction and ends up exactly as the upstream states it,
or — on any failure — exactly as it was. Three paths, cheapest first:

- **unchanged**: the rows hash to the digest stored with the day (`fact_day_digests`), so
  nothing is sent or written;
- **first load**: the table holds nothing for the (source, day), so the rows are COPYed
  (binary) straight into it;
- **merge**: rows are COPYed into a session temp table and merged with `INSERT … ON CONFLICT …
  DO UPDATE … WHERE (…) IS DISTINCT FROM (…)` (unchanged rows are not rewritten,
  `first_seen_at` stays, `updated_at` and `run_id` move only on a real change); rows the
  upstream no longer reports are deleted.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import asyncpg

from app.processing.facts import FactTable
from app.repositories.day_rows import DayRows, FactRows, Row
from app.repositories.digests import split_hashes

F = TypeVar("F")  # a fact


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    kept: int = 0  # days left as they were: they came back empty under the shrink guard
    digest: bytes | None = None  # of the day's rows as written (None: not known)

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.kept += other.kept
        return self


def _merge_sql(
    table: str,
    stage: str,
    columns: Sequence[str],
    key: str,
    compared: Sequence[str],
) -> str:
    """Write the staged rows of one day ($1 = run id, $2 = the day, $3 = the account) and count
    the rows new to the table and the existing rows that changed.

    An UPDATE of the rows that differ and an INSERT of the new ones, both hash joins against
    the day's rows: an unchanged row is only read. (`INSERT … ON CONFLICT DO UPDATE … WHERE`
    locks — so writes — every row it meets, changed or not: a day with 10 % of its rows
    changed cost as much as rewriting it.)"""
    column_list = ", ".join(columns)
    updates = ", ".join(f"{column} = staged.{column}" for column in compared)
    current = ", ".join(f"fact.{column}" for column in compared)
    incoming = ", ".join(f"staged.{column}" for column in compared)
    same_row = f"fact.account = $3 AND fact.usage_date = $2 AND fact.{key} = staged.{key}"
    writes = f"""
        WITH updated AS (
            UPDATE {table} AS fact
               SET {updates}, run_id = $1::uuid, updated_at = now()
              FROM {stage} AS staged
             WHERE {same_row} AND ({current}) IS DISTINCT FROM ({incoming})
            RETURNING 1
        ), inserted AS (
            INSERT INTO {table} ({column_list}, run_id, account)
            SELECT {column_list}, $1::uuid, $3 FROM {stage} AS staged
             WHERE NOT EXISTS (SELECT 1 FROM {table} AS fact WHERE {same_row})
            RETURNING 1
        )
    """
    return f"""{writes}
        SELECT (SELECT count(*) FROM inserted) AS inserted,
               (SELECT count(*) FROM updated) AS updated
    """


@dataclass(frozen=True)
class _FactTable:
    """How one source's part of a fact table is written; `source` narrows a day to one
    upstream's rows."""

    name: str
    columns: tuple[str, ...]
    stage: str
    stage_ddl: tuple[str, ...]
    merge: str
    # Every statement below takes $1 = day, $2 = source, $3 = account ("the source" is one
    # account's source: accounts never touch each other's rows).
    day_exists: str  # the source holds rows of the day
    # Rows the source no longer reports, deleted (or, on a row another source holds too, only
    # this source's columns reset); each statement's count adds up.
    delete_stale: tuple[str, ...]
    held: str  # how many rows of the day hold this source's columns
    # A table whose rows two sources share: any row of the account's day, either's.
    occupied: str | None = None


# Columns every source of a shared row writes (with the same value): not reset by either.
_SHARED_COLUMNS = ("usage_date", "attribution_method", "attribution_confidence")


def _fact_table(
    name: str,
    columns: tuple[str, ...],
    key: str,
    source_filter: str,
    stage_like: str,
    *,
    other_source: str | None = None,
    stage_suffix: str = "",
) -> _FactTable:
    """`other_source`: for a row two sources share (each owning its columns), the predicate
    saying the other source holds the row too — a row this source no longer reports then has
    only this source's columns reset (to their defaults), and is deleted only when neither
    source reports it."""
    stage = f"stage_{name}{stage_suffix}"
    compared = tuple(column for column in columns if column not in ("usage_date", key))
    unreported = f"""fact.account = $3 AND fact.usage_date = $1 AND {source_filter}
               AND NOT EXISTS (SELECT 1 FROM {stage} AS staged WHERE staged.{key} = fact.{key})"""
    if other_source is None:
        delete_stale: tuple[str, ...] = (f"DELETE FROM {name} AS fact WHERE {unreported}",)
    else:
        reset = ", ".join(
            f"{column} = DEFAULT" for column in columns if column not in (*_SHARED_COLUMNS, key)
        )
        delete_stale = (
            f"DELETE FROM {name} AS fact WHERE {unreported} AND NOT ({other_source})",
            f"UPDATE {name} AS fact SET {reset}, updated_at = now()"
            f" WHERE {unreported} AND ({other_source})",
        )
    return _FactTable(
        name=name,
        columns=columns,
        stage=stage,
        stage_ddl=(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {name} {stage_like})"
            " ON COMMIT DELETE ROWS",
            # The stale-row anti-join probes this index; without it a planner working from
            # stale statistics picks a nested loop over the whole stage per row.
            f"CREATE INDEX IF NOT EXISTS {stage}_key ON {stage} ({key})",
        ),
        merge=_merge_sql(name, stage, columns, key, compared),
        day_exists=(
            f"SELECT EXISTS (SELECT 1 FROM {name} AS fact"
            f" WHERE fact.account = $3 AND fact.usage_date = $1 AND {source_filter})"
        ),
        delete_stale=delete_stale,
        occupied=(
            None
            if other_source is None
            else f"SELECT EXISTS (SELECT 1 FROM {name} WHERE account = $3 AND usage_date = $1"
            " AND $2::text IS NOT NULL)"
        ),
        held=(
            f"SELECT count(*) FROM {name} AS fact"
            f" WHERE fact.account = $3 AND fact.usage_date = $1 AND {source_filter}"
        ),
    )


_MARK_WRITER = "SELECT set_config('ai_usage_pipeline.writer', 'on', true)"


@asynccontextmanager
async def writing(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction of the pipeline's own: every fact write goes through one."""
    async with connection.transaction():
        await connection.execute(_MARK_WRITER)
        yield


_STORED_DIGEST = """
    SELECT digest, row_count, row_hashes FROM fact_day_digests
     WHERE target_table = $1 AND source = $2 AND usage_date = $3 AND account = $4
"""
_STORE_DIGEST = """
    INSERT INTO fact_day_digests (target_table, source, usage_date, digest, row_count, row_hashes,
                                  account)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (target_table, account, source, usage_date)
    DO UPDATE SET digest = EXCLUDED.digest, row_count = EXCLUDED.row_count,
                  row_hashes = EXCLUDED.row_hashes, updated_at = now()
"""
_LOCK_DAY = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


async def lock_day(connection: asyncpg.Connection, name: str) -> None:
    """Serialise writers of one named day until the transaction ends."""
    await connection.execute(_LOCK_DAY, name)


async def replace_day(
    connection: asyncpg.Connection,
    table: _FactTable,
    account: str,
    day: date,
    source: str,
    incoming: DayRows,
    run_id: uuid.UUID | None,
    keep_if_emptied: bool = False,
) -> WriteCounts:
    """Make (account, source, day) of `table` hold exactly the incoming rows; call inside
    `writing`.

    One writer at a time per (table, account, source, day) — per (table, account, day) for a
    table whose rows two sources share: two snapshots of a day never interleave, so
    the stored digest always describes the rows. With `keep_if_emptied`, a day that holds rows
    is left as it is when no rows come in (counted in `kept`): the caller suspects the empty
    answer (see the shrink guard of the sources)."""
    # Sources sharing rows (Cursor) serialise on the day itself: their first loads would
    # collide; sources with rows of their own only on their own part of it.
    shared = table.occupied is not None
    scope = f"{account}:{'*' if shared else source}"
    await lock_day(connection, f"{table.name}:{scope}:{day.isoformat()}")
    stored = await connection.fetchrow(_STORED_DIGEST, table.name, source, day, account)
    exists = stored is not None or await connection.fetchval(table.day_exists, day, source, account)
    if keep_if_emptied and exists and incoming.empty:
        return WriteCounts(kept=1)
    if table.occupied is not None and not exists:
        # Rows another source wrote for the day would collide with a plain COPY.
        exists = await connection.fetchval(table.occupied, day, source, account)
    if not exists:  # nothing to compare, update or delete
        counts = await _first_load(connection, table, incoming, run_id, account)
    elif stored is not None and stored["digest"] == incoming.digest():
        return WriteCounts(unchanged=stored["row_count"], digest=stored["digest"])
    else:
        changed, held = None, None
        if stored is not None and stored["row_hashes"] is not None:
            changed = incoming.changed_rows(set(split_hashes(stored["row_hashes"])))
            held = stored["row_count"]  # what this source holds: its digest is still valid
        counts = await _merge_day(
            connection, table, _Day(account, day, source), incoming, run_id, changed, held
        )
    await connection.execute(
        _STORE_DIGEST,
        table.name,
        source,
        day,
        incoming.digest(),
        incoming.count,
        incoming.row_hashes(),
        account,
    )
    counts.digest = incoming.digest()
    return counts


async def _first_load(
    connection: asyncpg.Connection,
    table: _FactTable,
    incoming: DayRows,
    run_id: uuid.UUID | None,
    account: str,
) -> WriteCounts:
    columns = (*table.columns, "run_id", "account")
    try:
        async with connection.transaction():  # a savepoint: a failed attempt leaves no trace
            await connection.copy_records_to_table(
                table.name, records=incoming.for_first_load(run_id, account), columns=columns
            )
    except asyncpg.UniqueViolationError:
        if (folded := incoming.folded_for_first_load(run_id, account)) is None:
            raise
        await connection.copy_records_to_table(table.name, records=folded, columns=columns)
    return WriteCounts(inserted=incoming.count)


async def _stage(
    connection: asyncpg.Connection,
    table: _FactTable,
    rows: Iterable[Sequence[object]],
    account: str,
) -> None:
    for statement in table.stage_ddl:
        await connection.execute(statement)
    await connection.execute(f"TRUNCATE {table.stage}")
    await connection.copy_records_to_table(
        table.stage,
        records=((*row, account) for row in rows),
        columns=(*table.columns, "account"),
    )


@dataclass(frozen=True)
class _Day:
    """The (account, day, source) a write replaces."""

    account: str
    day: date
    source: str

    @property
    def args(self) -> tuple[date, str, str]:
        return self.day, self.source, self.account


async def _merge_day(
    connection: asyncpg.Connection,
    table: _FactTable,
    target: _Day,
    incoming: DayRows,
    run_id: uuid.UUID | None,
    changed: Sequence[Sequence[object]] | None,
    held_before: int | None,
) -> WriteCounts:
    """Merge a day that differs from what the table holds.

    With `changed` (the rows whose hash the stored day does not have), only those are staged
    and merged; the day's held count then tells whether rows also vanished, and only then is
    the whole day staged to find and remove them. Without it, the whole day is staged."""
    account = target.account
    if held_before is None:
        held_before = await connection.fetchval(table.held, *target.args)
    await _stage(connection, table, incoming.rows() if changed is None else changed, account)
    merged = await connection.fetchrow(table.merge, run_id, target.day, account)
    assert merged is not None
    written = int(merged["inserted"]) + int(merged["updated"])
    removed = 0
    vanished = changed is None or await connection.fetchval(table.held, *target.args) > (
        incoming.count
    )
    if vanished:
        if changed is not None:  # the stale-row anti-join needs every reported key
            await _stage(connection, table, incoming.rows(), account)
        for statement in table.delete_stale:
            status = await connection.execute(statement, *target.args)
            removed += int(status.split()[-1])
    # Rows this source held and reports again = held before − no longer reported; every other
    # incoming row is new to this source (and was written). A row new to the table is new to
    # the source; one another source holds (a shared Cursor row) was updated, yet is new here.
    inserted = incoming.count - (held_before - removed)
    updated = written - inserted
    return WriteCounts(
        inserted=inserted,
        updated=updated,
        unchanged=incoming.count - inserted - updated,
        deleted=removed,
    )


@functools.cache
def compiled(table: FactTable) -> _FactTable:
    """The statements of a table an upstream package declares (rows of its own, told apart by
    its label column)."""
    return _fact_table(
        table.name,
        table.columns,
        key=table.key,
        source_filter=f"fact.{table.label_column} = $2",
        stage_like="INCLUDING GENERATED INCLUDING DEFAULTS",
    )


async def replace_fact_day(
    connection: asyncpg.Connection,
    table: FactTable,
    account: str,
    label: str,
    day: date,
    rows: Sequence[F],
    to_row: Callable[[F], Row],
    run_id: uuid.UUID | None,
    keep_if_emptied: bool = False,
) -> WriteCounts:
    """One account's label's complete rows of one day of a declared table, in one
    transaction."""
    async with writing(connection):
        return await replace_day(
            connection, compiled(table), account, day, label, FactRows(rows, to_row), run_id,
            keep_if_emptied,
        )  # fmt: skip
