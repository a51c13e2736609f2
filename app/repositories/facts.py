"""The writes of the built-in fact tables, through the day writer (`app.repositories.day_writer`):
the Claude table's labelled rows, and the Cursor table whose rows two sources share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import attrgetter

import asyncpg

from app.repositories.day_rows import FactRows
from app.repositories.day_writer import (
    WriteCounts,
    _fact_table,
    compiled,
    replace_day,
    writing,
)
from app.upstreams.anthropic.facts import CLAUDE_COLUMNS, CLAUDE_FACT_TABLE, ClaudeFact, ClaudeLabel
from app.upstreams.cursor.facts import (
    CURSOR_COLUMNS,
    CURSOR_SPEND_COLUMNS,
    CursorLabel,
    CursorSpendFact,
)

CURSOR_TABLE = "fact_cursor_daily_usage"
CLAUDE_TABLE = CLAUDE_FACT_TABLE.name

cursor_row = attrgetter(*CURSOR_COLUMNS)
_claude_row = attrgetter(*CLAUDE_COLUMNS)


CLAUDE_FACTS = compiled(CLAUDE_FACT_TABLE)  # labelled rows of its own: a declared table
# A Cursor row is shared by two sources, each owning its columns: daily usage (activity) and
# usage events (spend). `$2` is still bound, so give it a type.
CURSOR_FACTS = _fact_table(
    CURSOR_TABLE,
    CURSOR_COLUMNS,
    key="email",
    source_filter="fact.in_daily_usage AND $2::text IS NOT NULL",
    stage_like="INCLUDING DEFAULTS",
    other_source="fact.usage_events IS NOT NULL",
)
CURSOR_SPEND_FACTS = _fact_table(
    CURSOR_TABLE,
    CURSOR_SPEND_COLUMNS,
    key="email",
    source_filter="fact.usage_events IS NOT NULL AND $2::text IS NOT NULL",
    stage_like="INCLUDING DEFAULTS",
    other_source="fact.in_daily_usage",
    stage_suffix="_spend",
)

# Marks the pipeline's own write transactions: the digest trigger (migration 0003) drops the
# digests of a table written by anyone else.


async def day_has_rows(
    connection: asyncpg.Connection, account: str, source: str, day: date
) -> bool:
    """Whether the Claude table holds rows of the account's `source` for `day`."""
    found: bool = await connection.fetchval(CLAUDE_FACTS.day_exists, day, source, account)
    return found


@dataclass(frozen=True)
class ClaudeDayWrite:
    """One source's complete rows for one day."""

    source: ClaudeLabel
    facts: Sequence[ClaudeFact]
    keep_if_emptied: bool = False


async def replace_claude_days(
    connection: asyncpg.Connection,
    account: str,
    day: date,
    writes: Sequence[ClaudeDayWrite],
    run_id: uuid.UUID | None,
) -> dict[ClaudeLabel, WriteCounts]:
    """Replace several sources' rows of one day in ONE transaction (usage and its cost
    allocation must land together)."""
    for write in writes:
        if any(fact.usage_date != day for fact in write.facts):
            raise ValueError(f"{write.source}: facts of another day in the write for {day}")
    counts: dict[ClaudeLabel, WriteCounts] = {}
    async with writing(connection):
        for write in writes:
            counts[write.source] = await replace_day(
                connection,
                CLAUDE_FACTS,
                account,
                day,
                write.source,
                FactRows(write.facts, _claude_row),
                run_id,
                write.keep_if_emptied,
            )
    return counts


# --- Cursor spend ------------------------------------------------------------------------------


_cursor_spend_row = attrgetter(*CURSOR_SPEND_COLUMNS)


async def replace_cursor_spend_day(
    connection: asyncpg.Connection,
    account: str,
    day: date,
    facts: Sequence[CursorSpendFact],
    run_id: uuid.UUID | None,
    keep_if_emptied: bool = False,
) -> WriteCounts:
    """The spend columns of one Cursor day, exactly as `facts` say, in one transaction; the
    daily-usage columns of the same rows are left as they are."""
    if any(fact.usage_date != day for fact in facts):
        raise ValueError(f"cursor_spend: facts of another day in the write for {day}")
    async with writing(connection):
        return await replace_day(
            connection,
            CURSOR_SPEND_FACTS,
            account,
            day,
            CursorLabel.USAGE_EVENTS,
            FactRows(facts, _cursor_spend_row),
            run_id,
            keep_if_emptied,
        )


async def charged_since(
    connection: asyncpg.Connection, account: str, first_day: date
) -> dict[str, Decimal]:
    """Σ charged cost per email of one account from `first_day` on (the reconciliation's side
    of events)."""
    rows = await connection.fetch(
        f"SELECT email, sum(charged_cost_usd) AS charged FROM {CURSOR_TABLE}"
        " WHERE account = $2 AND usage_date >= $1 AND charged_cost_usd IS NOT NULL"
        " GROUP BY email",
        first_day,
        account,
    )
    return {row["email"]: row["charged"] for row in rows}
