"""Renaming an account in the data: every table that keys by account, in one transaction."""

from __future__ import annotations

import asyncpg

# Every table with an `account` column (migration 0014); a schema test keeps this complete.
ACCOUNT_TABLES = (
    "fact_cursor_daily_usage",
    "fact_claude_daily_usage",
    "fact_day_digests",
    "claude_cost_lines",
    "coverage_days",
    "directory_users",
    "directory_api_keys",
    "directory_api_key_names",
    "known_workspaces",
    "api_key_owners",
    "ingestion_run_sources",
    "ingestion_run_parts",
    "fact_copilot_daily_usage",
    "fact_copilot_billing_daily",
    "copilot_seats",
    "rollup_person_day",
    "rollup_spend_day",
    "rollup_person_month",
    "rollup_seat_use",
)


class AccountTaken(Exception):
    """The new name holds data already: renaming would merge two accounts."""


async def rename(connection: asyncpg.Connection, old: str, new: str) -> dict[str, int]:
    """Rows renamed per table (and runs that named the old account); nothing when `old` holds
    no data. Raises `AccountTaken` when `new` holds data already."""
    async with connection.transaction():
        # Renamed with their digests, the days stay as the digests describe them.
        await connection.execute("SELECT set_config('ai_usage_pipeline.writer', 'on', true)")
        for table in ACCOUNT_TABLES:
            if await connection.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {table} WHERE account = $1)", new
            ):
                raise AccountTaken(f"account {new!r} holds data already ({table})")
        # Names keep their key: the key-names table follows its key in the same statement order.
        await connection.execute(
            "ALTER TABLE directory_api_key_names DROP CONSTRAINT directory_api_key_names_key_fkey"
        )
        renamed: dict[str, int] = {}
        for table in ACCOUNT_TABLES:
            status = await connection.execute(
                f"UPDATE {table} SET account = $2 WHERE account = $1", old, new
            )
            renamed[table] = int(status.split()[-1])
        await connection.execute(
            "ALTER TABLE directory_api_key_names ADD CONSTRAINT directory_api_key_names_key_fkey"
            " FOREIGN KEY (account, api_key_id) REFERENCES directory_api_keys (account, api_key_id)"
            " ON DELETE CASCADE"
        )
        status = await connection.execute(
            "UPDATE ingestion_runs SET accounts = array_replace(accounts, $1, $2),"
            " source_windows = CASE WHEN source_windows ? $1"
            " THEN (source_windows - $1) || jsonb_build_object($2::text, source_windows -> $1)"
            " ELSE source_windows END"
            " WHERE $1 = ANY (accounts)",
            old,
            new,
        )
        renamed["ingestion_runs"] = int(status.split()[-1])
    return renamed
