"""Schema via Alembic: exact tables and columns, round trip, grain uniqueness with NULLs."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import date
from enum import StrEnum
from pathlib import Path

import asyncpg
import pytest

from alembic import command
from app.repositories.accounts import ACCOUNT_TABLES
from app.repositories.migrations import (
    alembic_config,
    downgrade_to_base,
    head_revision,
    upgrade_to_head,
)
from app.upstreams.anthropic.facts import ClaudeLabel
from app.upstreams.copilot.facts import BILLING_TABLE as COPILOT_BILLING
from app.upstreams.copilot.facts import SEATS_TABLE as COPILOT_SEATS
from app.upstreams.copilot.facts import USAGE_TABLE as COPILOT_USAGE
from app.vocabulary import RunStatus, RunTrigger, SourceStatus
from tests.support.services import (
    LOCAL_SERVER,
    Simulator,
    _local_server_answers,
    create_database,
    drop_database,
)

CURSOR_COUNTERS = [
    "total_lines_added", "total_lines_deleted", "accepted_lines_added", "accepted_lines_deleted",
    "total_applies", "total_accepts", "total_rejects", "total_tabs_shown", "total_tabs_accepted",
    "composer_requests", "chat_requests", "agent_requests", "cmdk_usages",
    "subscription_included_reqs", "api_key_reqs", "usage_based_reqs", "bugbot_usages",
]  # fmt: skip
EXPECTED = {
    "fact_cursor_daily_usage": {
        "usage_date", "email", "cursor_user_id", "is_active", *CURSOR_COUNTERS,
        "most_used_model", "apply_most_used_extension", "tab_most_used_extension",
        "client_version", "attribution_method", "attribution_confidence", "run_id",
        "first_seen_at", "updated_at", "in_daily_usage",
        "charged_cost_usd", "model_cost_usd", "token_fee_usd", "billable_requests",
        "on_demand_cost_usd", "included_cost_usd", "discount_usd", "derived_cost_events",
        "usage_events", "chargeable_events", "headless_events", "input_tokens", "output_tokens",
        "cache_write_tokens", "cache_read_tokens", "service_account_id", "service_account_name",
    },
    "fact_claude_daily_usage": {
        "usage_date", "platform", "source", "user_email", "actor_type", "actor_name",
        "api_key_id", "workspace_id", "model", "customer_type", "terminal_type", "is_remote",
        "service_tier", "context_window", "inference_geo", "cost_description", "cost_type",
        "token_type", "uncached_input_tokens", "cache_creation_input_tokens",
        "cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens",
        "cache_read_input_tokens", "output_tokens", "web_search_requests", "requests",
        "cost_usd", "cost_kind", "allocation_basis", "sessions", "lines_added", "lines_removed", "commits",
        "pull_requests", "tool_accepted", "tool_rejected", "activity_count", "chats_created",
        "projects_created", "files_uploaded", "attribution_method", "attribution_confidence",
        "run_id", "first_seen_at", "updated_at", "grain_key",
        "account_id", "service_account_id", "product", "platform_basis",
    },
    "ingestion_runs": {
        "id", "status", "trigger", "window_start", "window_end", "sources", "idempotency_key",
        "request_fingerprint", "schedule_job", "scheduled_for", "worker_id", "requested_by", "created_at",
        "started_at", "finished_at", "heartbeat_at", "cancel_requested_at", "status_reason",
        "source_windows",
    },
    "ingestion_run_sources": {
        "run_id", "source", "status", "target_table", "days_total", "days_done", "pages",
        "rows_fetched", "rows_inserted", "rows_updated", "rows_unchanged", "rows_deleted",
        "rows_skipped", "skipped_by_reason", "warnings", "details", "retries", "rate_limit_waits", "rate_limit_wait_seconds", "last_error",
        "upstream_status", "started_at", "finished_at", "updated_at",
    },
    "api_key_owners": {"id", "api_key_id", "key_name", "owner_email", "note", "updated_at"},
    "known_workspaces": {
        "workspace_id", "name", "archived_at", "claude_code_since", "first_seen_at", "updated_at",
    },
    "directory_users": {
        "user_id", "email", "name", "first_seen_at", "last_seen_at", "gone_since",
    },
    "directory_api_keys": {
        "api_key_id", "name", "workspace_id", "created_by_user_id", "principal_type",
        "principal_id", "status", "claude_code_since", "first_seen_at", "last_seen_at",
    },
    "directory_api_key_names": {"api_key_id", "name", "first_seen_at", "last_seen_at"},
    "fact_day_digests": {
        "target_table", "source", "usage_date", "digest", "row_count", "row_hashes", "updated_at"
    },
    "coverage_days": {
        "source", "usage_date", "last_run_id", "last_fetched_at", "last_rows", "last_digest",
        "final_after", "data_refreshed_at", "last_failed_at", "last_failed_run_id",
        "last_error", "failures", "updated_at",
    },
    "claude_cost_lines": {
        "usage_date", "line_no", "workspace_id", "description", "cost_type", "model",
        "token_type", "service_tier", "context_window", "inference_geo", "amount_usd", "run_id",
        "fetched_at",
    },
    "alembic_version": {"version_num"},
}  # fmt: skip
# Migration 0014: every table keyed by an upstream's ids is keyed by account too.
for _table in ACCOUNT_TABLES:
    if _table in EXPECTED:
        EXPECTED[_table] = EXPECTED[_table] | {"account"}
EXPECTED["ingestion_runs"] = EXPECTED["ingestion_runs"] | {"accounts"}
EXPECTED["ingestion_run_parts"] = {
    "run_id", "part_no", "account", "sources", "status", "worker_id", "started_at",
    "heartbeat_at", "finished_at", "status_reason",
}  # fmt: skip
EXPECTED["person_aliases"] = {"alias_email", "person_email", "note", "updated_at"}
# Migration 0015: GitHub Copilot, as its package declares the tables.
_WRITTEN = {"account", "run_id", "first_seen_at", "updated_at"}
EXPECTED["fact_copilot_daily_usage"] = set(COPILOT_USAGE.columns) | _WRITTEN
EXPECTED["fact_copilot_billing_daily"] = set(COPILOT_BILLING.columns) | _WRITTEN
EXPECTED["copilot_seats"] = set(COPILOT_SEATS.columns) | {
    "account", "run_id", "first_seen_at", "last_seen_at", "removed_at",
}  # fmt: skip
EXPECTED["person_logins"] = {"service", "login", "email", "note"}
# Migration 0016: the answers' teams, budgets and the alerts outbox.
EXPECTED["person_teams"] = {"email", "team", "effective_from", "note"}
EXPECTED["budgets"] = {
    "id", "scope", "scope_value", "monthly_usd", "thresholds", "created_at", "updated_at",
}  # fmt: skip
EXPECTED["alerts"] = {"id", "kind", "dedup_key", "payload", "created_at"}
EXPECTED["alert_deliveries"] = {
    "alert_id", "target", "status", "attempts", "next_attempt_at", "last_error", "delivered_at",
}  # fmt: skip
# Migration 0017: the dashboard's rollups.
_MONEY = {f"{kind}_{part}usd" for kind in ("billed", "estimated", "consumption")
          for part in ("", "provisional_")}  # fmt: skip
EXPECTED["rollup_stale_months"] = {"month", "generation", "whole", "marked_at"}
EXPECTED["rollup_stale_days"] = {"usage_date", "generation"}
EXPECTED["rollup_months"] = {"month", "refreshed_at", "person_days"}
EXPECTED["rollup_person_day"] = {
    "usage_date", "person", "tool", "platform", "account", "team", "billed_usd", "estimated_usd",
    "consumption_usd", "tokens", "requests", "accepted_lines", "sessions", "final", "active",
    "attribution_method", "attribution_confidence",
}  # fmt: skip
EXPECTED["rollup_spend_day"] = {
    "usage_date",
    "tool",
    "platform",
    "account",
    "team",
    "people",
} | _MONEY
EXPECTED["rollup_person_month"] = {
    "month", "person", "tool", "platform", "account", "team", "active_days", "last_active",
} | _MONEY  # fmt: skip
EXPECTED["rollup_active_week"] = {"week", "tool", "platform", "active_people"}
EXPECTED["rollup_seat_use"] = {
    "tool", "account", "seat", "email", "plan", "since", "last_active", "active_days",
    "fetched_days",
}  # fmt: skip
EXPECTED["rollup_seat_window"] = {"only_one", "window_start", "window_end", "refreshed_at"}


async def _columns(dsn: str) -> dict[str, set[str]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
            "   AND table_name IN (SELECT tablename FROM pg_tables WHERE schemaname = 'public')"
        )
    finally:
        await connection.close()
    tables: dict[str, set[str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], set()).add(row["column_name"])
    return tables


@pytest.fixture(scope="module", params=["local", "embedded"])
async def empty_database(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty database on the machine's server and on the embedded one."""
    if request.param == "local":
        if not _local_server_answers():
            pytest.skip("no PostgreSQL on 127.0.0.1:5432")
        admin = os.environ.get("TEST_DATABASE_URL", LOCAL_SERVER)
        dsn = await create_database(admin, "aup_schema")
        yield dsn
        await drop_database(admin, dsn)
        return
    from app.repositories.embedded import embedded_dsn, release_embedded

    with tempfile.TemporaryDirectory(prefix="aup-embedded-") as directory:
        os.chmod(directory, 0o777)
        admin = await asyncio.to_thread(embedded_dsn, Path(directory))
        dsn = await create_database(admin, "aup_schema")
        yield dsn
        await drop_database(admin, dsn)
        await asyncio.to_thread(release_embedded)


async def test_upgrade_creates_exactly_the_documented_tables(empty_database: str) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database)
    assert await _columns(empty_database) == EXPECTED


async def _email_collation(dsn: str) -> str | None:
    connection = await asyncpg.connect(dsn)
    try:
        collation: str | None = await connection.fetchval(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_name = 'fact_cursor_daily_usage' AND column_name = 'email'"
        )
    finally:
        await connection.close()
    return collation


async def test_cursor_email_key_compares_bytes_and_downgrade_restores_it(
    empty_database: str,
) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database)
    assert await _email_collation(empty_database) == "C"
    await asyncio.to_thread(command.downgrade, alembic_config(empty_database), "0003")
    assert await _email_collation(empty_database) is None  # the database default again


async def test_downgrade_then_upgrade_round_trips(empty_database: str) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database)
    await asyncio.to_thread(downgrade_to_base, empty_database)
    assert set(await _columns(empty_database)) == {"alembic_version"}
    await asyncio.to_thread(upgrade_to_head, empty_database)
    assert await _columns(empty_database) == EXPECTED
    connection = await asyncpg.connect(empty_database)
    try:
        assert (
            await connection.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        )
    finally:
        await connection.close()


INSERT_CLAUDE = """
    INSERT INTO fact_claude_daily_usage
        (account, usage_date, platform, source, api_key_id, workspace_id, model,
         attribution_method, attribution_confidence)
    VALUES ('default', $1, 'claude_api', 'usage_report', $2, NULL, $3, 'unattributed', 0)
"""


async def test_same_grain_with_null_dimensions_is_rejected(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await connection.execute(INSERT_CLAUDE, date(2026, 8, 3), None, None)
        with pytest.raises(asyncpg.UniqueViolationError):
            await connection.execute(INSERT_CLAUDE, date(2026, 8, 3), None, None)
        # A NULL and the text 'NULL' are different grains; so are different days.
        await connection.execute(INSERT_CLAUDE, date(2026, 8, 3), "NULL", None)
        await connection.execute(INSERT_CLAUDE, date(2026, 8, 4), None, None)
        assert await connection.fetchval("SELECT count(*) FROM fact_claude_daily_usage") == 3


async def test_confidence_and_platform_are_checked(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(
                "INSERT INTO fact_claude_daily_usage (account, usage_date, platform, source,"
                " attribution_method, attribution_confidence)"
                " VALUES ('default', '2026-08-03', 'claude_web', 'usage_report', 'unattributed',"
                " 0)"
            )
        with pytest.raises(asyncpg.PostgresError):
            await connection.execute(
                "INSERT INTO fact_cursor_daily_usage (account, usage_date, email,"
                " attribution_method, attribution_confidence)"
                " VALUES ('default', '2026-08-03', 'a@b.c', 'direct_email', 1.5)"
            )
        with pytest.raises(asyncpg.CheckViolationError):  # emails are stored normalised
            await connection.execute(
                "INSERT INTO fact_cursor_daily_usage (account, usage_date, email,"
                " attribution_method, attribution_confidence)"
                " VALUES ('default', '2026-08-03', 'Ana@X.dev', 'direct_email', 1)"
            )


@pytest.mark.parametrize(
    ("table", "column", "vocabulary"),
    [
        ("ingestion_runs", "status", RunStatus),
        ("ingestion_runs", "trigger", RunTrigger),
        ("ingestion_run_sources", "status", SourceStatus),
        # Fact labels are owned by their upstream package (app/upstreams/<name>/facts.py).
        ("fact_claude_daily_usage", "source", ClaudeLabel),
    ],
)
async def test_check_constraints_admit_exactly_the_vocabulary(
    pool: asyncpg.Pool, table: str, column: str, vocabulary: type[StrEnum]
) -> None:
    """app/vocabulary.py and the upstream packages own these words; the schema's CHECKs must
    admit exactly them."""
    async with pool.acquire() as connection:
        definitions = await connection.fetch(
            """
            SELECT pg_get_constraintdef(c.oid) AS definition
              FROM pg_constraint c
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
             WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND a.attname = $2
            """,
            table,
            column,
        )
    (definition,) = [row["definition"] for row in definitions]
    admitted = set(re.findall(r"'([a-z_]+)'::text", definition))
    assert admitted == {member.value for member in vocabulary}, definition


async def test_digests_carry_one_vocabulary_the_registry_s_fact_labels(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    """`fact_day_digests.source` holds fact labels only, each one an upstream package owns."""
    from app.orchestration.sources.registry import REGISTRY
    from tests.integration.jobs import run_job

    await run_job(db, simulator)
    async with db.acquire() as connection:
        stored = {
            row["source"] for row in await connection.fetch("SELECT source FROM fact_day_digests")
        }
    labels = {label.value for upstream in REGISTRY.upstreams for label in upstream.labels}
    assert stored and stored <= labels
    assert {"cursor_daily_usage", "cursor_usage_events", "usage_report"} <= stored


async def test_every_table_with_an_account_is_renamed_with_it(db: asyncpg.Pool) -> None:
    """`usage-pipeline accounts rename` renames exactly the tables that hold an account."""
    async with db.acquire() as connection:
        holding = await connection.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'account'"
            " AND table_name IN (SELECT table_name FROM information_schema.tables"
            "                     WHERE table_type = 'BASE TABLE')"
        )
    assert {row["table_name"] for row in holding} == set(ACCOUNT_TABLES)
