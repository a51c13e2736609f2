"""The write path's shortcuts: a day restated identically is skipped via its digest, a first
load COPYs straight in, Cursor pages spool to disk — and none of it may lose or keep a row it
should not."""

from __future__ import annotations

import dataclasses
import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg

from app.repositories.cursor_window import CursorWindow
from app.repositories.facts import ClaudeDayWrite, replace_claude_days
from app.upstreams.anthropic.facts import ClaudeFact
from app.upstreams.cursor.facts import CursorFact

DAY = date(2026, 8, 3)


def _cursor(email: str, day: date = DAY, lines: int = 1, model: str | None = "m") -> CursorFact:
    return CursorFact(
        day, email, "7", lines > 0, lines, *([0] * 16), model, None, None, None,
        "direct_email", Decimal("1.00"),
    )  # fmt: skip


def _claude(model: str, tokens: int) -> ClaudeFact:
    return ClaudeFact(
        DAY, "claude_api", "usage_report", "unattributed", Decimal(0), model=model,
        output_tokens=tokens, cost_usd=Decimal("0.0123456789"), cost_kind="allocated",
    )  # fmt: skip


async def _write_cursor(connection: asyncpg.Connection, *pages: list[CursorFact]) -> list[int]:
    with CursorWindow() as window:
        for page in pages:
            window.add(page)
        days = sorted({fact.usage_date for page in pages for fact in page} | {DAY})
        counts = [await window.write_day(connection, "default", day, None) for day in days]
    return [c.unchanged for c in counts]


async def _cursor_table(connection: asyncpg.Connection) -> list[tuple[object, ...]]:
    rows = await connection.fetch(
        "SELECT usage_date, email, total_lines_added, most_used_model, updated_at"
        " FROM fact_cursor_daily_usage ORDER BY 1, 2"
    )
    return [tuple(row) for row in rows]


async def test_cursor_duplicates_across_pages_fold_on_a_first_load(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await _write_cursor(
            connection, [_cursor("ana@x.dev", lines=2)], [_cursor("ana@x.dev", lines=3, model="z")]
        )
        rows = await _cursor_table(connection)
    assert [row[:4] for row in rows] == [(DAY, "ana@x.dev", 5, "z")]


async def test_an_identical_restatement_is_skipped_and_touches_nothing(db: asyncpg.Pool) -> None:
    pages = [[_cursor(f"p{i}@x.dev", lines=i) for i in range(50)], [_cursor("q@x.dev")]]
    async with db.acquire() as connection:
        await _write_cursor(connection, *pages)
        before = await _cursor_table(connection)
        unchanged = await _write_cursor(connection, *pages)
        assert unchanged == [51]
        assert await _cursor_table(connection) == before
        # The skip really happened: the count comes from the digest row, not from a merge.
        await connection.execute("UPDATE fact_day_digests SET row_count = 999")
        assert await _write_cursor(connection, *pages) == [999]


async def test_a_claude_day_streamed_on_first_load_is_skipped_when_restated_identically(
    db: asyncpg.Pool,
) -> None:
    facts = [_claude(f"model-{i}", i) for i in range(4500)]  # several digest chunks
    async with db.acquire() as connection:
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", facts)], None
        )
        await connection.execute("UPDATE fact_day_digests SET row_count = 999")
        counts = await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", facts)], None
        )
    assert counts["usage_report"].unchanged == 999  # digest of the streamed load matched


async def test_a_hand_edit_invalidates_the_digests_so_the_next_run_repairs_the_day(
    db: asyncpg.Pool,
) -> None:
    facts = [_claude("a", 1), _claude("b", 2)]
    async with db.acquire() as connection:
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", facts)], None
        )
        assert await connection.fetchval("SELECT count(*) FROM fact_day_digests") == 1
        # Outside the pipeline: a retention job, an analyst's fix, …
        await connection.execute("DELETE FROM fact_claude_daily_usage WHERE model = 'a'")
        await connection.execute("UPDATE fact_claude_daily_usage SET output_tokens = 99")
        assert await connection.fetchval("SELECT count(*) FROM fact_day_digests") == 0
        counts = await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", facts)], None
        )
        assert (counts["usage_report"].inserted, counts["usage_report"].updated) == (1, 1)
        rows = await connection.fetch(
            "SELECT model, output_tokens, cost_usd FROM fact_claude_daily_usage ORDER BY model"
        )
    assert [tuple(row) for row in rows] == [
        ("a", 1, Decimal("0.0123456789")),
        ("b", 2, Decimal("0.0123456789")),
    ]


async def test_a_cost_change_below_a_cent_is_not_mistaken_for_unchanged(db: asyncpg.Pool) -> None:
    facts = [_claude("a", 1)]
    async with db.acquire() as connection:
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", facts)], None
        )
        restated = [dataclasses.replace(facts[0], cost_usd=Decimal("0.0123456788"))]
        counts = await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", restated)], None
        )
        assert counts["usage_report"].updated == 1
        assert await connection.fetchval("SELECT cost_usd FROM fact_claude_daily_usage") == Decimal(
            "0.0123456788"
        )


async def test_a_guarded_day_that_comes_back_empty_keeps_its_rows(db: asyncpg.Pool) -> None:
    """The shrink guard at the write: an empty answer for a day holding rows is not applied
    when the caller suspects it (`keep_if_emptied`), and is applied when it does not."""
    facts = [_claude("a", 1)]
    async with db.acquire() as connection:
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", facts)], None
        )
        digest = await connection.fetchval("SELECT digest FROM fact_day_digests")
        kept = await replace_claude_days(
            connection,
            "default",
            DAY,
            [ClaudeDayWrite("usage_report", [], keep_if_emptied=True)],
            None,
        )
        assert kept["usage_report"].kept == 1
        assert await connection.fetchval("SELECT count(*) FROM fact_claude_daily_usage") == 1
        assert await connection.fetchval("SELECT digest FROM fact_day_digests") == digest
        emptied = await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", [])], None
        )
        assert (emptied["usage_report"].kept, emptied["usage_report"].deleted) == (0, 1)
        assert await connection.fetchval("SELECT count(*) FROM fact_claude_daily_usage") == 0


async def test_a_cursor_day_that_comes_back_empty_is_emptied_and_spools_are_removed(
    db: asyncpg.Pool, tmp_path: Path
) -> None:
    next_day = DAY + timedelta(days=1)
    async with db.acquire() as connection:
        await _write_cursor(connection, [_cursor("a@x.dev"), _cursor("a@x.dev", day=next_day)])
        with CursorWindow(tmp_path) as window:
            window.add([_cursor("a@x.dev", day=next_day)])
            assert os.listdir(tmp_path)  # spooled to disk, not held in memory
            for day in (DAY, next_day):
                await window.write_day(connection, "default", day, None)
        rows = await _cursor_table(connection)
    assert [row[:2] for row in rows] == [(next_day, "a@x.dev")]
    assert not os.listdir(tmp_path)


async def test_a_revised_cursor_day_writes_changed_new_and_vanished_rows_exactly(
    db: asyncpg.Pool,
) -> None:
    """The row-hash path: only rows whose hash is new are merged, a vanished row is still
    found (by the held count) and deleted, and a row the revision repeats is not rewritten."""
    first = [_cursor(f"p{n}@x.dev", lines=n + 1) for n in range(6)]
    revised = [
        first[0],
        _cursor("p1@x.dev", lines=99),  # changed
        *first[2:5],  # p5 vanished
        _cursor("new@x.dev", lines=7),  # new
    ]
    async with db.acquire() as connection:
        await connection.execute("TRUNCATE fact_cursor_daily_usage")
        await _write_cursor(connection, first)
        before = {row[1]: row for row in await _cursor_table(connection)}
        with CursorWindow() as window:
            window.add(revised)
            counts = await window.write_day(connection, "default", DAY, None)
        after = {row[1]: row for row in await _cursor_table(connection)}
    assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (1, 1, 1, 4)
    assert {email: row[2] for email, row in after.items()} == {
        fact.email: fact.total_lines_added for fact in revised
    }
    repeated = ("p0@x.dev", "p2@x.dev", "p3@x.dev", "p4@x.dev")
    assert all(after[email] == before[email] for email in repeated)  # updated_at kept
    assert after["p1@x.dev"][4] > before["p1@x.dev"][4]
