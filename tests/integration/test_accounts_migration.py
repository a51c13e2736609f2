"""Migration 0014 on a database that holds data: every row moves to the account `default`,
none is lost, and the next run finds every row unchanged (no day is written again); renaming
an account renames it everywhere, and never merges two."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from alembic import command
from app.orchestration.accounts import AccountRenameError, rename_account
from app.repositories.accounts import ACCOUNT_TABLES
from app.repositories.migrations import alembic_config, upgrade_to_head
from tests.integration.jobs import run_job
from tests.support.services import Simulator, create_database, drop_database

DATA_TABLES = ("fact_cursor_daily_usage", "fact_claude_daily_usage", "fact_day_digests",
               "claude_cost_lines", "coverage_days", "directory_users", "directory_api_keys",
               "known_workspaces")  # fmt: skip


@pytest.fixture
async def own_database(admin_dsn: str) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    dsn = await create_database(admin_dsn, "aup_accounts")
    await asyncio.to_thread(upgrade_to_head, dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    yield pool, dsn
    await pool.close()
    await drop_database(admin_dsn, dsn)


async def _counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as connection:
        return {t: await connection.fetchval(f"SELECT count(*) FROM {t}") for t in DATA_TABLES}


async def test_existing_data_moves_to_the_default_account_and_stays_unchanged(
    own_database: tuple[asyncpg.Pool, str], simulator: Simulator
) -> None:
    pool, dsn = own_database
    _, first = await run_job(pool, simulator)
    assert first.status == "succeeded", first.reason
    before = await _counts(pool)
    assert all(before.values()), before
    # The database as 0013 left it (one account, no account column), then upgraded again.
    await asyncio.to_thread(command.downgrade, alembic_config(dsn), "0013")
    await pool.expire_connections()
    assert await _counts(pool) == before
    await asyncio.to_thread(upgrade_to_head, dsn)
    await pool.expire_connections()
    assert await _counts(pool) == before
    async with pool.acquire() as connection:
        for table in DATA_TABLES:
            accounts = await connection.fetch(f"SELECT DISTINCT account FROM {table}")
            assert [row["account"] for row in accounts] == ["default"], table
    _, again = await run_job(pool, simulator)
    assert again.status == "succeeded", again.reason
    for name, progress in again.sources.items():
        assert progress.rows_unchanged == progress.rows_fetched or progress.rows_unchanged > 0
        assert (progress.rows_inserted, progress.rows_updated, progress.rows_deleted) == (
            0,
            0,
            0,
        ), name


async def test_renaming_an_account_renames_it_everywhere_and_never_merges(
    own_database: tuple[asyncpg.Pool, str], simulator: Simulator
) -> None:
    pool, _ = own_database
    await run_job(pool, simulator)
    before = await _counts(pool)
    async with pool.acquire() as connection:
        renamed = await rename_account(connection, "default", "acme-prod")
    assert {t: renamed[t] for t in DATA_TABLES} == before
    assert renamed["ingestion_runs"] == 1
    async with pool.acquire() as connection:
        for table in ACCOUNT_TABLES:
            left = await connection.fetchval(
                f"SELECT count(*) FROM {table} WHERE account = 'default'"
            )
            assert left == 0, table
        accounts = await connection.fetchval("SELECT accounts FROM ingestion_runs")
    assert accounts == ["acme-prod"]
    await run_job(pool, simulator)  # the single-key settings write `default` again
    async with pool.acquire() as connection:
        with pytest.raises(AccountRenameError, match="account 'acme-prod' holds data already"):
            await rename_account(connection, "default", "acme-prod")
        with pytest.raises(AccountRenameError, match="is not an account name"):
            await rename_account(connection, "default", "Acme Prod")
