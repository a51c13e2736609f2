"""Reads of a declared fact table: what one source reads of another's writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from app.processing.facts import FactTable


async def day_values(
    connection: asyncpg.Connection,
    table: FactTable,
    account: str,
    day: date,
    columns: Sequence[str],
) -> list[tuple[object, ...]]:
    """`columns` of an account's rows of one day: what one source reads of another's writes
    (the billing lines of the users a usage day shows)."""
    if unknown := [column for column in columns if column not in table.columns]:
        raise ValueError(f"{table.name} has no column(s) {unknown}")
    rows = await connection.fetch(
        f"SELECT {', '.join(columns)} FROM {table.name} WHERE account = $1 AND usage_date = $2"
        f" ORDER BY {table.key}",
        account,
        day,
    )
    return [tuple(row) for row in rows]
