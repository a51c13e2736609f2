"""Each day's cost-report lines as received (`claude_cost_lines`).

Allocation is a pure function of (usage rows, cost lines): storing the lines lets any usage day
be written with the cost that belongs to it, whichever of the two reports this run fetched.
"""

from __future__ import annotations

import uuid
from dataclasses import astuple, fields
from datetime import date

import asyncpg

from app.processing.cost_allocation import CostLine

_FIELDS = tuple(f.name for f in fields(CostLine))


async def stored_lines(connection: asyncpg.Connection, account: str, day: date) -> list[CostLine]:
    rows = await connection.fetch(
        f"SELECT {', '.join(_FIELDS)} FROM claude_cost_lines WHERE account = $2"
        " AND usage_date = $1 ORDER BY line_no",
        day,
        account,
    )
    return [CostLine(**dict(row)) for row in rows]


async def store_lines(
    connection: asyncpg.Connection,
    account: str,
    day: date,
    lines: list[CostLine],
    run_id: uuid.UUID | None,
) -> None:
    """Replace the account's lines of the day (call inside the transaction that writes the
    day's rows)."""
    await connection.execute(
        "DELETE FROM claude_cost_lines WHERE account = $2 AND usage_date = $1", day, account
    )
    await connection.copy_records_to_table(
        "claude_cost_lines",
        records=[(account, day, n, *astuple(line), run_id) for n, line in enumerate(lines)],
        columns=("account", "usage_date", "line_no", *_FIELDS, "run_id"),
    )
