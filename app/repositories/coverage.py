"""The coverage ledger (`coverage_days`, read through the `ingestion_coverage` view).

Every (account, source, day) is `missing` (no row), `failed` (its last attempt failed and it
was never fetched), `provisional` (fetched before its revision horizon passed) or `final`
(fetched after it). Runs record what they fetched and what failed; the schedule,
`GET /coverage`, the CLI and the metrics read the same states.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from app.accounts import AccountSource
from app.vocabulary import NEEDS_FETCH, CoverageState


@dataclass(frozen=True)
class Fetched:
    """A day a run fetched and wrote whole."""

    day: date
    rows: int
    digest: bytes | None
    final_after: datetime
    data_refreshed_at: datetime | None = None


@dataclass(frozen=True)
class CoverageDay:
    account: str
    source: str
    day: date
    state: CoverageState
    last_run_id: uuid.UUID | None = None
    last_fetched_at: datetime | None = None
    last_rows: int | None = None
    final_after: datetime | None = None
    data_refreshed_at: datetime | None = None
    last_failed_at: datetime | None = None
    last_error: str | None = None


async def record_fetched(
    connection: asyncpg.Connection,
    part: AccountSource,
    run_id: uuid.UUID,
    days: Sequence[Fetched],
) -> None:
    await connection.executemany(
        """
        INSERT INTO coverage_days AS c (source, usage_date, last_run_id, last_fetched_at,
                                        last_rows, last_digest, final_after, data_refreshed_at,
                                        account)
        VALUES ($1, $2, $3, now(), $4, $5, $6, $7, $8)
        ON CONFLICT (account, source, usage_date) DO UPDATE
           SET last_run_id = EXCLUDED.last_run_id, last_fetched_at = EXCLUDED.last_fetched_at,
               last_rows = EXCLUDED.last_rows, last_digest = EXCLUDED.last_digest,
               final_after = EXCLUDED.final_after,
               data_refreshed_at = coalesce(EXCLUDED.data_refreshed_at, c.data_refreshed_at),
               updated_at = now()
        """,
        [
            (
                part.source,
                d.day,
                run_id,
                d.rows,
                d.digest,
                d.final_after,
                d.data_refreshed_at,
                part.account,
            )
            for d in days
        ],
    )


async def record_failed(
    connection: asyncpg.Connection,
    part: AccountSource,
    run_id: uuid.UUID,
    days: Sequence[date],
    error: str | None,
) -> None:
    """Days a run meant to fetch but did not: a day fetched before stays as it was known."""
    await connection.executemany(
        """
        INSERT INTO coverage_days AS c (source, usage_date, last_failed_at, last_failed_run_id,
                                        last_error, failures, account)
        VALUES ($1, $2, now(), $3, $4, 1, $5)
        ON CONFLICT (account, source, usage_date) DO UPDATE
           SET last_failed_at = now(), last_failed_run_id = EXCLUDED.last_failed_run_id,
               last_error = EXCLUDED.last_error, failures = c.failures + 1, updated_at = now()
        """,
        [(part.source, day, run_id, error, part.account) for day in days],
    )


async def coverage(
    connection: asyncpg.Connection, parts: Sequence[AccountSource], start: date, end: date
) -> list[CoverageDay]:
    """Every (account, source, day) of the range, `missing` where the ledger has no row; by
    account and source (in the order given), then day."""
    rows = await connection.fetch(
        """
        SELECT s.account, s.source, d::date AS day, coalesce(c.state, 'missing') AS state,
               c.last_run_id, c.last_fetched_at, c.last_rows, c.final_after,
               c.data_refreshed_at, c.last_failed_at, c.last_error
          FROM unnest($1::text[], $4::text[]) WITH ORDINALITY AS s (account, source, position)
         CROSS JOIN generate_series($2::date, $3::date, interval '1 day') AS d
          LEFT JOIN ingestion_coverage c
                 ON c.account = s.account AND c.source = s.source AND c.usage_date = d::date
         ORDER BY s.position, d
        """,
        [part.account for part in parts],
        start,
        end,
        [part.source for part in parts],
    )
    return [
        CoverageDay(
            row["account"],
            row["source"],
            row["day"],
            CoverageState(row["state"]),
            row["last_run_id"],
            row["last_fetched_at"],
            row["last_rows"],
            row["final_after"],
            row["data_refreshed_at"],
            row["last_failed_at"],
            row["last_error"],
        )
        for row in rows
    ]


def count_states(
    days: Sequence[CoverageDay], parts: Sequence[AccountSource]
) -> dict[AccountSource, dict[CoverageState, int]]:
    """Days per (account, source) and state (every state present, zeros included)."""
    counts = {part: dict.fromkeys(CoverageState, 0) for part in parts}
    for day in days:
        counts[AccountSource(day.account, day.source)][day.state] += 1
    return counts


async def days_to_fetch(
    connection: asyncpg.Connection, parts: Sequence[AccountSource], start: date, end: date
) -> dict[AccountSource, list[date]]:
    """Per (account, source), the days of the range that are missing, failed or provisional."""
    needed: dict[AccountSource, list[date]] = {part: [] for part in parts}
    for day in await coverage(connection, parts, start, end):
        if day.state in NEEDS_FETCH:
            needed[AccountSource(day.account, day.source)].append(day.day)
    return needed


async def last_fetched(connection: asyncpg.Connection, part: AccountSource) -> datetime | None:
    """When the account's source last fetched any day, or None if it never did."""
    when: datetime | None = await connection.fetchval(
        "SELECT max(last_fetched_at) FROM coverage_days WHERE account = $1 AND source = $2",
        part.account,
        part.source,
    )
    return when


async def parts_with_days(
    connection: asyncpg.Connection, start: date, end: date
) -> list[AccountSource]:
    """Every (account, source) the ledger holds a day of in the range, configured or not."""
    rows = await connection.fetch(
        "SELECT DISTINCT account, source FROM coverage_days"
        " WHERE usage_date BETWEEN $1 AND $2 ORDER BY account, source",
        start,
        end,
    )
    return [AccountSource(row["account"], row["source"]) for row in rows]


async def accounts_with_data(connection: asyncpg.Connection) -> list[str]:
    """Every account the ledger knows (a renamed account's old name shows up here)."""
    rows = await connection.fetch("SELECT DISTINCT account FROM coverage_days ORDER BY 1")
    return [row["account"] for row in rows]
