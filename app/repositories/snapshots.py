"""Lists an upstream only gives as "now" (GitHub's Copilot seats), kept with their history.

Each listing is compared with what the account's table holds: a new item is inserted
(`first_seen_at`), a listed one is refreshed (`last_seen_at`; its columns and `run_id` move only
when they changed), and — only when the listing was read whole — an item it no longer shows
gets `removed_at`. Nothing is deleted: a seat removed is remembered, and one listed again comes
back (`removed_at` cleared).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from app.processing.facts import SnapshotTable

Row = tuple[object, ...]


@dataclass(frozen=True)
class SnapshotCounts:
    added: int
    changed: int
    unchanged: int
    removed: int


def _statements(table: SnapshotTable, stage: str) -> tuple[str, str, str]:
    names = ", ".join(table.columns)
    values = [column for column in table.columns if column not in table.key]
    same = " AND ".join(f"t.{column} = s.{column}" for column in table.key)
    current = ", ".join(f"t.{column}" for column in values)
    listed = ", ".join(f"s.{column}" for column in values)
    changed = f"""
        SELECT count(*) FROM {stage} s JOIN {table.name} t ON t.account = $1 AND {same}
         WHERE ({current}, t.removed_at IS NULL) IS DISTINCT FROM ({listed}, true)
    """
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in values)
    before = ", ".join(f"{table.name}.{column}" for column in values)
    after = ", ".join(f"EXCLUDED.{column}" for column in values)
    upsert = f"""
        WITH written AS (
            INSERT INTO {table.name} ({names}, account, first_seen_at, last_seen_at, run_id)
            SELECT {names}, $1, now(), now(), $2::uuid FROM {stage}
            ON CONFLICT (account, {", ".join(table.key)}) DO UPDATE
               SET {updates}, last_seen_at = now(), removed_at = NULL,
                   run_id = CASE WHEN ({before}, {table.name}.removed_at IS NULL)
                                      IS DISTINCT FROM ({after}, true)
                                 THEN $2::uuid ELSE {table.name}.run_id END
            RETURNING (xmax = 0) AS added
        )
        SELECT count(*) FILTER (WHERE added) FROM written
    """
    keys = ", ".join(table.key)
    remove = f"""
        UPDATE {table.name} t SET removed_at = now(), run_id = $2::uuid
         WHERE t.account = $1 AND t.removed_at IS NULL
           AND ({", ".join(f"t.{column}" for column in table.key)})
               NOT IN (SELECT {keys} FROM {stage})
    """
    return changed, upsert, remove


async def write_snapshot(
    connection: asyncpg.Connection,
    table: SnapshotTable,
    account: str,
    rows: Sequence[Row],
    run_id: uuid.UUID,
    *,
    complete: bool,
) -> SnapshotCounts:
    """Apply one listing of the account's items (see the module docstring), in one
    transaction. `complete`: the listing was read whole, so what it lacks was removed."""
    stage = f"stage_snapshot_{table.name}"
    changed_sql, upsert_sql, remove_sql = _statements(table, stage)
    async with connection.transaction():
        await connection.execute(
            f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS"
            f" SELECT {', '.join(table.columns)} FROM {table.name} WITH NO DATA"
        )
        await connection.copy_records_to_table(stage, records=rows, columns=table.columns)
        changed = await connection.fetchval(changed_sql, account)
        added = await connection.fetchval(upsert_sql, account, run_id)
        removed = 0
        if complete:
            status = await connection.execute(remove_sql, account, run_id)
            removed = int(status.split()[-1])
    return SnapshotCounts(added, changed, len(rows) - added - changed, removed)


async def held(connection: asyncpg.Connection, table: SnapshotTable, account: str) -> int:
    """How many items of the account the table holds as current (not removed)."""
    count: int = await connection.fetchval(
        f"SELECT count(*) FROM {table.name} WHERE account = $1 AND removed_at IS NULL", account
    )
    return count
