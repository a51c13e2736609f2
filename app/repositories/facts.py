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

Cursor windows come in pages of users across many days, so a day is complete only at the end
of a window: `CursorWindow` spools the pages to local files by day (memory stays flat, no
database connection is held while fetching) and writes day by day from there.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from app.processing.facts import (
    CLAUDE_COLUMNS,
    CLAUDE_COST_COLUMNS,
    CURSOR_COLUMNS,
    ClaudeFact,
    ClaudeSource,
    CursorFact,
    fold_cursor_duplicates,
)
from app.repositories.digests import DayDigest, decode_rows, digest_rows, encode_rows

CURSOR_TABLE = "fact_cursor_daily_usage"
CLAUDE_TABLE = "fact_claude_daily_usage"
CURSOR_SOURCE = "cursor"

Row = tuple[Any, ...]
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
    table: str, stage: str, columns: Sequence[str], key: Sequence[str], compared: Sequence[str]
) -> str:
    """Upsert the staged rows (parameter $1 = run id)."""
    column_list = ", ".join(columns)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in compared)
    target = ", ".join(f"{table}.{column}" for column in compared)
    incoming = ", ".join(f"EXCLUDED.{column}" for column in compared)
    return f"""
        WITH merged AS (
            INSERT INTO {table} AS {table} ({column_list}, run_id)
            SELECT {column_list}, $1::uuid FROM {stage}
            ON CONFLICT ({", ".join(key)}) DO UPDATE
               SET {updates}, run_id = EXCLUDED.run_id, updated_at = now()
             WHERE ({target}) IS DISTINCT FROM ({incoming})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted) AS inserted,
               count(*) FILTER (WHERE NOT inserted) AS updated
          FROM merged
    """


@dataclass(frozen=True)
class _FactTable:
    """How one fact table is written; `source` narrows a day to one upstream's rows."""

    name: str
    columns: tuple[str, ...]
    stage: str
    stage_ddl: tuple[str, ...]
    merge: str
    merge_keeping_cost: str
    day_exists: str  # $1 = day, $2 = source
    delete_stale: str  # $1 = day, $2 = source


def _fact_table(
    name: str,
    columns: tuple[str, ...],
    key: str,
    source_filter: str,
    stage_like: str,
    cost_columns: tuple[str, ...] = (),
) -> _FactTable:
    stage = f"stage_{name}"
    compared = tuple(column for column in columns if column not in ("usage_date", key))
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
        merge=_merge_sql(name, stage, columns, ("usage_date", key), compared),
        merge_keeping_cost=_merge_sql(
            name,
            stage,
            columns,
            ("usage_date", key),
            tuple(column for column in compared if column not in cost_columns),
        ),
        day_exists=(
            f"SELECT EXISTS (SELECT 1 FROM {name} WHERE usage_date = $1 AND {source_filter})"
        ),
        delete_stale=f"""
            DELETE FROM {name} AS fact
             WHERE fact.usage_date = $1 AND {source_filter}
               AND NOT EXISTS (SELECT 1 FROM {stage} AS staged WHERE staged.{key} = fact.{key})
        """,
    )


_CLAUDE = _fact_table(
    CLAUDE_TABLE,
    CLAUDE_COLUMNS,
    key="grain_key",
    source_filter="source = $2",
    stage_like="INCLUDING GENERATED INCLUDING DEFAULTS",
    cost_columns=CLAUDE_COST_COLUMNS,
)
# Every Cursor row comes from one source; `$2` is still bound, so give it a type.
_CURSOR = _fact_table(
    CURSOR_TABLE,
    CURSOR_COLUMNS,
    key="email",
    source_filter="$2::text IS NOT NULL",
    stage_like="INCLUDING DEFAULTS",
)

# Marks the pipeline's own write transactions: the digest trigger (migration 0003) drops the
# digests of a table written by anyone else.
_MARK_WRITER = "SELECT set_config('ai_usage_pipeline.writer', 'on', true)"


@asynccontextmanager
async def _writing(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction of the pipeline's own: every fact write goes through one."""
    async with connection.transaction():
        await connection.execute(_MARK_WRITER)
        yield


_STORED_DIGEST = """
    SELECT digest, row_count FROM fact_day_digests
     WHERE target_table = $1 AND source = $2 AND usage_date = $3
"""
_STORE_DIGEST = """
    INSERT INTO fact_day_digests (target_table, source, usage_date, digest, row_count)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (target_table, source, usage_date)
    DO UPDATE SET digest = EXCLUDED.digest, row_count = EXCLUDED.row_count, updated_at = now()
"""
_FORGET_DIGEST = (
    "DELETE FROM fact_day_digests WHERE target_table = $1 AND source = $2 AND usage_date = $3"
)


class _DayRows(Protocol):
    """One (source, day)'s rows in table column order, produced as cheaply as each path
    allows."""

    def digest(self) -> bytes: ...

    def for_first_load(self, run_id: uuid.UUID | None) -> Iterable[Sequence[Any]]:
        """Rows with `run_id` appended, consumed lazily by COPY (client work overlaps the
        server's); `digest()` and `count` hold once it is exhausted."""
        ...

    def folded_for_first_load(self, run_id: uuid.UUID | None) -> Iterable[Sequence[Any]] | None:
        """The same rows with duplicate keys folded, or None if duplicates are an error."""
        ...

    def rows(self) -> Sequence[Sequence[Any]]: ...

    @property
    def count(self) -> int: ...


async def _replace_day(
    connection: asyncpg.Connection,
    table: _FactTable,
    day: date,
    source: str,
    incoming: _DayRows,
    run_id: uuid.UUID | None,
    keep_existing_cost: bool = False,
) -> WriteCounts:
    """Make (source, day) of `table` hold exactly the incoming rows; call inside `_writing`."""
    stored = await connection.fetchrow(_STORED_DIGEST, table.name, source, day)
    if stored is None and not await connection.fetchval(table.day_exists, day, source):
        # Nothing to compare, update or delete.
        columns = (*table.columns, "run_id")
        try:
            async with connection.transaction():  # a savepoint: a failed attempt leaves no trace
                await connection.copy_records_to_table(
                    table.name, records=incoming.for_first_load(run_id), columns=columns
                )
        except asyncpg.UniqueViolationError:
            if (folded := incoming.folded_for_first_load(run_id)) is None:
                raise
            await connection.copy_records_to_table(table.name, records=folded, columns=columns)
        counts = WriteCounts(inserted=incoming.count)
    elif stored is not None and stored["digest"] == incoming.digest():
        return WriteCounts(unchanged=stored["row_count"])
    else:
        for statement in table.stage_ddl:
            await connection.execute(statement)
        await connection.execute(f"TRUNCATE {table.stage}")
        await connection.copy_records_to_table(
            table.stage, records=incoming.rows(), columns=table.columns
        )
        merge = table.merge_keeping_cost if keep_existing_cost else table.merge
        merged = await connection.fetchrow(merge, run_id)
        assert merged is not None
        inserted, updated = int(merged["inserted"]), int(merged["updated"])
        status = await connection.execute(table.delete_stale, day, source)
        counts = WriteCounts(
            inserted=inserted,
            updated=updated,
            unchanged=incoming.count - inserted - updated,
            deleted=int(status.split()[-1]),
        )
    if keep_existing_cost:
        # The day now mixes these rows with costs from an earlier run: no digest describes it.
        await connection.execute(_FORGET_DIGEST, table.name, source, day)
    else:
        await connection.execute(
            _STORE_DIGEST, table.name, source, day, incoming.digest(), incoming.count
        )
    return counts


# --- Claude ------------------------------------------------------------------------------------


# Rows are turned into tuples and digested this many at a time while COPY streams them.
_CHUNK = 2000


class _ClaudeRows:
    def __init__(self, facts: Sequence[ClaudeFact]) -> None:
        self._facts = facts
        self._rows: list[Row] | None = None
        self._digest: bytes | None = None

    @property
    def count(self) -> int:
        return len(self._facts)

    def rows(self) -> list[Row]:
        if self._rows is None:
            self._rows = [_claude_row(fact) for fact in self._facts]
        return self._rows

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = digest_rows(self.rows())
        return self._digest

    def for_first_load(self, run_id: uuid.UUID | None) -> Iterator[Row]:
        digest = DayDigest()
        for start in range(0, len(self._facts), _CHUNK):
            rows = [_claude_row(fact) for fact in self._facts[start : start + _CHUNK]]
            digest.update(encode_rows(rows))
            for row in rows:
                yield (*row, run_id)
        self._digest = digest.digest()

    def folded_for_first_load(self, run_id: uuid.UUID | None) -> None:
        return None  # the caller folds Claude rows (`fold_duplicates`); a duplicate is a bug


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
    for write in writes:
        if any(fact.usage_date != day for fact in write.facts):
            raise ValueError(f"{write.source}: facts of another day in the write for {day}")
    counts: dict[ClaudeSource, WriteCounts] = {}
    async with _writing(connection):
        for write in writes:
            counts[write.source] = await _replace_day(
                connection,
                _CLAUDE,
                day,
                write.source,
                _ClaudeRows(write.facts),
                run_id,
                write.keep_existing_cost,
            )
    return counts


# --- Cursor ------------------------------------------------------------------------------------

_DATE_AT = CURSOR_COLUMNS.index("usage_date")
_EMAIL_AT = CURSOR_COLUMNS.index("email")
_CONFIDENCE_AT = CURSOR_COLUMNS.index("attribution_confidence")


def _landed_chunks(day: date, spool: Path | None, *appended: Any) -> Iterator[list[list[Any]]]:
    """A day's spooled rows back in column order and types (`appended` values added at the
    end of each row), one chunk at a time."""
    if spool is None:
        return
    confidences: dict[str, Decimal] = {}
    with spool.open("rb") as lines:
        for line in lines:
            rows = decode_rows(line.rstrip(b"\n"))
            for values in rows:
                values[_DATE_AT] = day
                text = values[_CONFIDENCE_AT]
                confidence = confidences.get(text)
                if confidence is None:
                    confidence = confidences[text] = Decimal(text)
                values[_CONFIDENCE_AT] = confidence
                values += appended
            yield rows


class _CursorDayRows:
    """Spooled rows of one day. A first load streams them as landed (duplicates are rare and
    make COPY fail on the primary key); every other path folds them first."""

    def __init__(self, day: date, digest: bytes, spool: Path | None) -> None:
        self._day = day
        self._digest = digest
        self._spool = spool
        self._rows: list[list[Any]] | None = None
        self._streamed = 0

    def digest(self) -> bytes:
        return self._digest

    def rows(self) -> list[list[Any]]:
        if self._rows is None:
            landed = (row for chunk in _landed_chunks(self._day, self._spool) for row in chunk)
            folded = fold_cursor_duplicates(CursorFact(*values) for values in landed)
            self._rows = [list(_cursor_row(fact)) for fact in folded]
        return self._rows

    @property
    def count(self) -> int:
        return self._streamed if self._rows is None else len(self._rows)

    def for_first_load(self, run_id: uuid.UUID | None) -> Iterator[list[Any]]:
        return chain.from_iterable(self._counted(_landed_chunks(self._day, self._spool, run_id)))

    def _counted(self, chunks: Iterator[list[list[Any]]]) -> Iterator[list[list[Any]]]:
        for chunk in chunks:
            self._streamed += len(chunk)
            yield chunk

    def folded_for_first_load(self, run_id: uuid.UUID | None) -> list[list[Any]]:
        return [[*values, run_id] for values in self.rows()]


class CursorWindow:
    """Pages of one Cursor window, spooled to local files by day until the window is complete.

    Each day's rows are kept encoded (the same bytes its digest is taken over), so a day whose
    digest matches what is stored is never read back.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="aup-cursor-", dir=directory))
        self._digests: dict[date, DayDigest] = {}

    def __enter__(self) -> CursorWindow:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)
        self._digests.clear()

    def _path(self, day: date) -> Path:
        return self._directory / f"{day.isoformat()}.json"

    def add(self, facts: Sequence[CursorFact]) -> None:
        by_day: dict[date, list[Row]] = defaultdict(list)
        for row in map(_cursor_row, facts):
            by_day[row[_DATE_AT]].append(row)
        for day, rows in by_day.items():
            digest = self._digests.setdefault(day, DayDigest())
            with self._path(day).open("ab") as spool:
                # One line per chunk: read back (and COPYed) chunk by chunk.
                for start in range(0, len(rows), _CHUNK):
                    chunk = rows[start : start + _CHUNK]
                    encoded = encode_rows(chunk)
                    digest.update(encoded)
                    spool.write(encoded + b"\n")

    async def write_day(
        self, connection: asyncpg.Connection, day: date, run_id: uuid.UUID | None
    ) -> WriteCounts:
        """Replace one day of the fact table with the spooled rows, in one transaction; a day
        with no rows deletes what the table holds for it."""
        digest = self._digests.get(day, DayDigest()).digest()
        incoming = _CursorDayRows(day, digest, self._path(day) if day in self._digests else None)
        async with _writing(connection):
            return await _replace_day(connection, _CURSOR, day, CURSOR_SOURCE, incoming, run_id)

    def clear(self) -> None:
        for day in self._digests:
            self._path(day).unlink(missing_ok=True)
        self._digests.clear()
