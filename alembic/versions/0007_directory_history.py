"""Directory history, OAuth and service accounts, every Enterprise Analytics product, and the
rule that placed each Claude row on its platform.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

- `directory_users`, `directory_api_keys`, `directory_api_key_names`: every user and key an
  upstream ever showed, with first/last seen (users: `gone_since` once the users list stops
  naming them; keys: every status, each name they had). Attribution resolves through this
  history, so a person who left still owns their past usage and a renamed key keeps its owner.
  `directory_api_keys.claude_code_since`: the first day Claude Code analytics named the key as
  an `api_actor` (a Claude Code key outside the "Claude Code" workspace).
- `fact_claude_daily_usage` gains `account_id` and `service_account_id` (messages report, OAuth
  and OIDC federation) and `product` (Enterprise Analytics), all three in the grain, and
  `platform_basis` (`source`, `claude_code_workspace`, `claude_code_key`, `other_workspace`).
- `claude_usage_by_user_day`: gains `requests` (Enterprise Analytics); Enterprise Analytics
  `claude_code` rows bring tokens and billed cost for a person-day; Admin API Claude Code analytics subscription tokens count only for
  person-days Enterprise Analytics does not cover (nothing is counted twice).
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its frozen definitions, reused as they were)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_GRAIN: tuple[str, ...] = _migration("0001_initial_schema.py").CLAUDE_GRAIN_COLUMNS
NEW_GRAIN = (*OLD_GRAIN, "account_id", "service_account_id", "product")

PLATFORM_SOURCES = {
    "claude_code": ("claude_code", "claude_usage", "claude_cost", "claude_ai"),
    "claude_api": ("claude_usage", "claude_cost"),
    "claude_ai": ("claude_ai",),
}
TOKENS = (
    "uncached_input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)
PRODUCTIVITY = (
    "sessions",
    "lines_added",
    "lines_removed",
    "commits",
    "pull_requests",
    "tool_accepted",
    "tool_rejected",
)


def _grain(columns: Sequence[str]) -> str:
    return "md5(" + " || '|' || ".join(f"quote_nullable({c})" for c in columns) + ")::uuid"


def _regrain(columns: Sequence[str]) -> None:
    op.execute("ALTER TABLE fact_claude_daily_usage DROP CONSTRAINT fact_claude_daily_usage_pkey")
    op.execute("ALTER TABLE fact_claude_daily_usage DROP COLUMN grain_key")
    op.execute(
        "ALTER TABLE fact_claude_daily_usage ADD COLUMN grain_key uuid"
        f" GENERATED ALWAYS AS ({_grain(columns)}) STORED"
    )
    op.execute("ALTER TABLE fact_claude_daily_usage ADD PRIMARY KEY (usage_date, grain_key)")


def _sources_of(platform_column: str) -> str:
    cases = " ".join(
        f"WHEN '{platform}' THEN ARRAY[{', '.join(repr(s) for s in sources)}]"
        for platform, sources in PLATFORM_SOURCES.items()
    )
    return f"CASE {platform_column} {cases} END"


def _view() -> str:
    tokens = ",\n".join(
        f"COALESCE(sum({c}) FILTER (WHERE counts_tokens), 0)::bigint AS {c}" for c in TOKENS
    )
    productivity = ",\n".join(
        f"sum({c}) FILTER (WHERE source = 'claude_code_analytics')::bigint AS {c}"
        for c in PRODUCTIVITY
    )
    sources = _sources_of("r.platform")
    return f"""
        CREATE VIEW claude_usage_by_user_day AS
        WITH r AS (
            SELECT f.*,
                   CASE
                     WHEN source IN ('usage_report', 'claude_ai_analytics') THEN true
                     WHEN source = 'claude_code_analytics' AND customer_type = 'subscription'
                       THEN NOT bool_or(source = 'claude_ai_analytics' AND product = 'claude_code')
                                OVER (PARTITION BY usage_date, user_email)
                     ELSE false
                   END AS counts_tokens
              FROM fact_claude_daily_usage f
        )
        SELECT r.usage_date, r.platform, r.user_email,
            {tokens},
            COALESCE(sum(cost_usd) FILTER (WHERE cost_kind IN ('allocated', 'reported')), 0)
                AS billed_cost_usd,
            COALESCE(sum(cost_usd) FILTER (WHERE cost_kind = 'estimated'), 0)
                AS estimated_cost_usd,
            sum(requests) FILTER (WHERE counts_tokens)::bigint AS requests,
            {productivity},
            min(attribution_confidence) AS min_attribution_confidence,
            EXISTS (SELECT 1 FROM ingestion_coverage c
                     WHERE c.usage_date = r.usage_date AND c.source = ANY ({sources}))
            AND NOT EXISTS (SELECT 1 FROM ingestion_coverage c
                     WHERE c.usage_date = r.usage_date AND c.source = ANY ({sources})
                       AND c.state <> 'final') AS is_final
          FROM r
         GROUP BY r.usage_date, r.platform, r.user_email
    """


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE directory_users (
            user_id        text PRIMARY KEY,
            email          text NULL,
            name           text NULL,
            first_seen_at  timestamptz NOT NULL DEFAULT now(),
            last_seen_at   timestamptz NOT NULL DEFAULT now(),
            gone_since     timestamptz NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE directory_api_keys (
            api_key_id          text PRIMARY KEY,
            name                text NULL,
            workspace_id        text NULL,
            created_by_user_id  text NULL,
            principal_type      text NULL,
            principal_id        text NULL,
            status              text NULL,
            claude_code_since   date NULL,
            first_seen_at       timestamptz NOT NULL DEFAULT now(),
            last_seen_at        timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE directory_api_key_names (
            api_key_id     text NOT NULL REFERENCES directory_api_keys ON DELETE CASCADE,
            name           text NOT NULL,
            first_seen_at  timestamptz NOT NULL DEFAULT now(),
            last_seen_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (api_key_id, name)
        )
        """
    )
    op.execute("CREATE INDEX ix_directory_api_key_names_name ON directory_api_key_names (name)")
    op.execute("DROP VIEW claude_usage_by_user_day")
    op.execute(
        """
        ALTER TABLE fact_claude_daily_usage
            ADD COLUMN account_id text NULL,
            ADD COLUMN service_account_id text NULL,
            ADD COLUMN product text NULL,
            ADD COLUMN platform_basis text NULL
        """
    )
    _regrain(NEW_GRAIN)
    op.execute(_view())


def downgrade() -> None:
    op.execute("DROP VIEW claude_usage_by_user_day")
    # Rows the old grain cannot tell apart (the next run re-reads them as the old code would).
    op.execute(
        "DELETE FROM fact_claude_daily_usage WHERE account_id IS NOT NULL"
        " OR service_account_id IS NOT NULL OR coalesce(product, 'chat') <> 'chat'"
    )
    _regrain(OLD_GRAIN)
    op.execute(
        """
        ALTER TABLE fact_claude_daily_usage
            DROP COLUMN account_id, DROP COLUMN service_account_id,
            DROP COLUMN product, DROP COLUMN platform_basis
        """
    )
    _migration("0002_claude_usage_by_user_day.py").upgrade()
    _migration("0006_coverage_ledger.py").add_is_final()
    for table in ("directory_api_key_names", "directory_api_keys", "directory_users"):
        op.execute(f"DROP TABLE {table}")
