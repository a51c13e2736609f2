"""Write path vs the physical limit: the repository upsert against a raw binary COPY of the
same records into an unindexed copy of each table, in the same process and database."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from operator import attrgetter
from typing import Any

import asyncpg

from app.processing.attribution import KEY_CREATOR
from app.repositories.cursor_window import CursorWindow
from app.repositories.facts import ClaudeDayWrite, replace_claude_days
from app.upstreams.anthropic.facts import CLAUDE_COLUMNS, ClaudeFact
from app.upstreams.cursor.facts import CURSOR_COLUMNS, CursorFact
from bench.common import median, timed

FIRST_DAY = date(2026, 1, 1)
MODELS = ("claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5")
TIERS = ("standard", "batch", "priority")


def claude_rows(count: int, days: int = 30, seed: int = 1) -> dict[date, list[ClaudeFact]]:
    """Messages-usage rows with realistic dimensions: keys × models × tiers × windows per day."""
    rng = random.Random(seed)
    per_day = count // days
    rows: dict[date, list[ClaudeFact]] = defaultdict(list)
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        for i in range(per_day):
            key = i // 12
            rows[day].append(
                ClaudeFact(
                    usage_date=day,
                    platform="claude_code" if key % 3 == 0 else "claude_api",
                    source="usage_report",
                    attribution_method=KEY_CREATOR,
                    attribution_confidence=Decimal("0.80"),
                    user_email=f"person.{key % 5000}@acme.dev",
                    api_key_id=f"apikey_01{key:010d}",
                    workspace_id=f"wrkspc_{key % 7}" if key % 11 else None,
                    model=MODELS[i % 3],
                    service_tier=TIERS[(i // 3) % 2],
                    context_window="0-200k" if (i // 6) % 2 == 0 else "200k-1M",
                    inference_geo="global",
                    uncached_input_tokens=rng.randint(0, 200_000),
                    cache_creation_input_tokens=rng.randint(0, 20_000),
                    cache_creation_5m_input_tokens=rng.randint(0, 10_000),
                    cache_creation_1h_input_tokens=rng.randint(0, 10_000),
                    cache_read_input_tokens=rng.randint(0, 900_000),
                    output_tokens=rng.randint(0, 90_000),
                    web_search_requests=rng.randint(0, 3),
                    cost_usd=Decimal(rng.randint(0, 10**8)) / 10**7,
                    cost_kind="allocated",
                )
            )
    return rows


def cursor_rows(count: int, days: int = 30, seed: int = 2) -> dict[date, list[CursorFact]]:
    rng = random.Random(seed)
    per_day = count // days
    rows: dict[date, list[CursorFact]] = defaultdict(list)
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        for i in range(per_day):
            counters = [rng.randint(0, 2000) for _ in range(17)]
            rows[day].append(
                CursorFact(
                    day,
                    f"person.{i}@acme.dev",
                    str(40_000 + i),
                    rng.random() < 0.8,
                    *counters,
                    "claude-4.5-sonnet",
                    ".py",
                    ".ts",
                    "1.7.28",
                    "direct_email",
                    Decimal("1.00"),
                )
            )
    return rows


def change(rows: dict[date, list[Any]], fraction: float, seed: int = 3) -> None:
    rng = random.Random(seed)
    for day_rows in rows.values():
        for row in day_rows:
            if rng.random() < fraction:
                if isinstance(row, ClaudeFact):
                    row.output_tokens += 1
                else:
                    row.total_lines_added += 1


async def _claude_upsert(pool: asyncpg.Pool, rows: dict[date, list[ClaudeFact]]) -> None:
    async with pool.acquire() as connection:
        for day, facts in rows.items():
            await replace_claude_days(
                connection, "default", day, [ClaudeDayWrite("usage_report", facts)], None
            )


async def _cursor_upsert(pool: asyncpg.Pool, rows: dict[date, list[CursorFact]]) -> None:
    async with pool.acquire() as connection:
        with CursorWindow() as window:
            for facts in rows.values():
                window.add(facts)
            for day in rows:
                await window.write_day(connection, "default", day, None)


async def _copy_days(
    connection: asyncpg.Connection,
    target: str,
    columns: tuple[str, ...],
    rows: dict[date, list[Any]],
) -> None:
    getter = attrgetter(*columns)
    for facts in rows.values():
        # The account is a column of every row, as the write path writes it.
        await connection.copy_records_to_table(
            target,
            records=((*getter(fact), "default") for fact in facts),
            columns=(*columns, "account"),
        )


async def _copy(
    pool: asyncpg.Pool, table: str, columns: tuple[str, ...], rows: dict[date, list[Any]]
) -> None:
    async with pool.acquire() as connection:
        await connection.execute(f"DROP TABLE IF EXISTS {table}_copy")
        # Same columns and defaults, no indexes, no constraints beyond NOT NULL: the limit.
        await connection.execute(f"CREATE TABLE {table}_copy (LIKE {table} INCLUDING DEFAULTS)")
        await connection.execute(f"ALTER TABLE {table}_copy DROP COLUMN IF EXISTS grain_key")
        await _copy_days(connection, f"{table}_copy", columns, rows)


async def _copy_into_table(
    pool: asyncpg.Pool, table: str, columns: tuple[str, ...], rows: dict[date, list[Any]]
) -> None:
    """The same COPY into the real, empty table (its key, constraints, generated column): the
    ceiling for any first load into it."""
    async with pool.acquire() as connection:
        await connection.execute(f"TRUNCATE {table}")
        await _copy_days(connection, table, columns, rows)
        await connection.execute(f"TRUNCATE {table}")


async def _truncate(pool: asyncpg.Pool) -> None:
    await pool.execute("TRUNCATE fact_claude_daily_usage, fact_cursor_daily_usage")


async def measure(
    dsn: str, claude_count: int, cursor_count: int, repetitions: int
) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    results: dict[str, Any] = {}
    try:
        for name, make, upsert, table, columns, count in (
            ("fact_claude_daily_usage", claude_rows, _claude_upsert, "fact_claude_daily_usage", CLAUDE_COLUMNS, claude_count),
            ("fact_cursor_daily_usage", cursor_rows, _cursor_upsert, "fact_cursor_daily_usage", CURSOR_COLUMNS, cursor_count),
        ):  # fmt: skip
            samples: dict[str, list[float]] = defaultdict(list)
            for _ in range(repetitions):
                rows = make(count)
                await _truncate(pool)
                samples["copy"].append(await timed(partial(_copy, pool, table, columns, rows)))
                samples["copy_into_table"].append(
                    await timed(partial(_copy_into_table, pool, table, columns, rows))
                )
                samples["first_load"].append(await timed(partial(upsert, pool, rows)))
                samples["unchanged"].append(await timed(partial(upsert, pool, rows)))
                change(rows, 0.10)
                samples["ten_percent_changed"].append(await timed(partial(upsert, pool, rows)))
            medians = {k: median(v) for k, v in samples.items()}
            results[name] = {
                "rows": count,
                "seconds": medians,
                "rows_per_second": {k: count / v for k, v in medians.items()},
                "ratio_to_copy": {
                    k: medians["copy"] / v for k, v in medians.items() if k != "copy"
                },
            }
    finally:
        await pool.close()
    return results
