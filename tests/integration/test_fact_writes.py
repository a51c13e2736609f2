"""Repository writes: idempotency and replace-the-day as properties (hypothesis, real DB)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from decimal import Decimal

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.repositories.facts import ClaudeDayWrite, replace_claude_days
from app.upstreams.anthropic.facts import ClaudeFact, fold_duplicates

DAY = date(2026, 8, 3)
TEXT = st.one_of(st.none(), st.sampled_from(["a", "b", "NULL", "", "Ä"]))

FACTS = st.lists(
    st.builds(
        ClaudeFact,
        usage_date=st.just(DAY),
        platform=st.sampled_from(["claude_code", "claude_api"]),
        source=st.just("usage_report"),
        attribution_method=st.just("unattributed"),
        attribution_confidence=st.just(Decimal("0.00")),
        api_key_id=TEXT,
        workspace_id=TEXT,
        model=TEXT,
        service_tier=TEXT,
        is_remote=st.one_of(st.none(), st.booleans()),
        output_tokens=st.integers(0, 2**40),
        cost_usd=st.one_of(st.none(), st.decimals(0, 10**6, places=10)),
    ).map(lambda f: _kind(f)),
    max_size=25,
)


def _kind(fact: ClaudeFact) -> ClaudeFact:
    fact.cost_kind = None if fact.cost_usd is None else "allocated"
    return fact


async def _table(connection: asyncpg.Connection) -> dict[object, tuple[object, ...]]:
    rows = await connection.fetch(
        "SELECT grain_key, api_key_id, workspace_id, model, service_tier, is_remote, output_tokens,"
        " cost_usd FROM fact_claude_daily_usage"
    )
    return {row["grain_key"]: tuple(row)[1:] for row in rows}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=FACTS, second=FACTS)
async def test_writing_a_day_twice_changes_nothing_and_replaces_exactly(
    db: asyncpg.Pool, first: list[ClaudeFact], second: list[ClaudeFact]
) -> None:
    first, second = fold_duplicates(first), fold_duplicates(second)
    async with db.acquire() as connection:
        await connection.execute("TRUNCATE fact_claude_daily_usage")
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", first)], None
        )
        table = await _table(connection)
        assert len(table) == len(first)

        again = await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", first)], None
        )
        counts = again["usage_report"]
        assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (
            0,
            0,
            0,
            len(first),
        )
        assert await _table(connection) == table

        # A different upstream statement of the same day replaces it exactly.
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", second)], None
        )
        expected = [
            (
                f.api_key_id,
                f.workspace_id,
                f.model,
                f.service_tier,
                f.is_remote,
                f.output_tokens,
                f.cost_usd,
            )
            for f in second
        ]
        assert sorted((await _table(connection)).values(), key=repr) == sorted(expected, key=repr)


async def test_a_failing_write_leaves_the_day_as_it_was(db: asyncpg.Pool) -> None:
    good = ClaudeFact(
        DAY, "claude_api", "usage_report", "unattributed", Decimal(0), model="m", output_tokens=5
    )
    bad = ClaudeFact(
        DAY, "claude_api", "usage_report", "unattributed", Decimal(0), model="n", output_tokens=-1
    )
    bad.attribution_confidence = Decimal("7")  # violates the 0–1 check inside the transaction
    async with db.acquire() as connection:
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", [good])], None
        )
        before = await _table(connection)
        changed = ClaudeFact(
            DAY,
            "claude_api",
            "usage_report",
            "unattributed",
            Decimal(0),
            model="m",
            output_tokens=6,
        )
        try:
            await replace_claude_days(
                connection, "default", DAY, [ClaudeDayWrite("usage_report", [changed, bad])], None
            )
        except asyncpg.PostgresError:
            pass
        else:
            raise AssertionError("expected the check constraint to fail")
        assert await _table(connection) == before


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=FACTS,
    changed=st.lists(st.booleans(), max_size=25),
    dropped=st.lists(st.booleans(), max_size=25),
    added=FACTS,
)
async def test_a_revised_day_writes_only_what_changed_and_counts_it(
    db: asyncpg.Pool,
    first: list[ClaudeFact],
    changed: list[bool],
    dropped: list[bool],
    added: list[ClaudeFact],
) -> None:
    """A revision of a day already written (stored row hashes: only rows whose hash is new are
    merged): rows changed, dropped and added land exactly, each counted as what it is, and a
    row the revision repeats is not rewritten."""
    first = fold_duplicates(first)
    revised: list[ClaudeFact] = []
    for at, fact in enumerate(first):
        if at < len(dropped) and dropped[at]:
            continue
        copy = dataclasses.replace(fact)
        if at < len(changed) and changed[at]:
            copy.output_tokens += 1
        revised.append(copy)
    keys = {f.key() for f in first}  # a row new to the day, not one dropped and re-added
    new = [f for f in fold_duplicates(added) if f.key() not in keys]
    revised += new
    expected_updated = sum(
        1 for at, _ in enumerate(first)
        if at < len(changed) and changed[at] and not (at < len(dropped) and dropped[at])
    )  # fmt: skip
    expected_deleted = sum(1 for at, _ in enumerate(first) if at < len(dropped) and dropped[at])
    async with db.acquire() as connection:
        await connection.execute("TRUNCATE fact_claude_daily_usage")
        run_first = uuid.UUID(int=1)
        await replace_claude_days(
            connection, "default", DAY, [ClaudeDayWrite("usage_report", first)], run_first
        )
        counts = (
            await replace_claude_days(
                connection, "default", DAY, [ClaudeDayWrite("usage_report", revised)], None
            )
        )["usage_report"]
        assert (counts.inserted, counts.updated, counts.deleted) == (
            len(new),
            expected_updated,
            expected_deleted,
        )
        assert counts.unchanged == len(revised) - len(new) - expected_updated
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM fact_claude_daily_usage WHERE run_id IS NOT NULL"
            )
            == counts.unchanged
        )  # rows the revision repeats keep the run that wrote them
        expected = sorted(
            ((f.api_key_id, f.workspace_id, f.model, f.service_tier, f.is_remote,
              f.output_tokens, f.cost_usd) for f in revised),
            key=repr,
        )  # fmt: skip
        assert sorted((await _table(connection)).values(), key=repr) == expected
