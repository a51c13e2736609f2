"""Cursor cost per person and day (usage events), spend reconciliation, and the cross-tool view.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

- `fact_cursor_daily_usage` gains the columns of the `cursor_spend` source, folded from
  `POST /teams/filtered-usage-events` per (day, person): `charged_cost_usd` (Σ chargedCents —
  model cost plus Cursor Token Rate, what `/teams/spend` and the dashboard add up),
  `model_cost_usd` (Σ tokenUsage.totalCents), `token_fee_usd` (Σ cursorTokenFee),
  `billable_requests` (Σ requestsCosts, fractional), event counts (all, chargeable, headless),
  tokens (input, output, cache write, cache read), and `service_account_id` /
  `service_account_name` for a service account's row (its `email` is
  `service-account:<id>`, never a person's). The two Cursor sources own disjoint columns of
  one row: `in_daily_usage` says whether the daily-usage source reported the person that day;
  spend columns are NULL when no event was reported. A row neither reports is deleted.
- `ingestion_run_sources.details`: what a source measured beyond rows (the spend
  reconciliation: upstream spend, charged events, the largest per-person difference).
- `ai_usage_by_user_day`: one row per (usage_date, user_email, tool, platform), Cursor and
  Claude side by side; Claude through `claude_usage_by_user_day`, so nothing is counted twice.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPEND_COLUMNS = (
    ("charged_cost_usd", "numeric"),
    ("model_cost_usd", "numeric"),
    ("token_fee_usd", "numeric"),
    ("billable_requests", "numeric"),
    ("usage_events", "bigint"),
    ("chargeable_events", "bigint"),
    ("headless_events", "bigint"),
    ("input_tokens", "bigint"),
    ("output_tokens", "bigint"),
    ("cache_write_tokens", "bigint"),
    ("cache_read_tokens", "bigint"),
    ("service_account_id", "text"),
    ("service_account_name", "text"),
)

CROSS_TOOL_VIEW = """
    CREATE VIEW ai_usage_by_user_day AS
    SELECT usage_date, email AS user_email, 'cursor'::text AS tool, 'cursor'::text AS platform,
           coalesce(charged_cost_usd, 0) AS billed_cost_usd,
           0::numeric AS estimated_cost_usd,
           coalesce(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens, 0)
               AS tokens,
           coalesce(billable_requests, 0) AS requests,
           accepted_lines_added AS accepted_lines,
           NULL::bigint AS sessions,
           service_account_id IS NOT NULL AS is_service_account
      FROM fact_cursor_daily_usage
    UNION ALL
    SELECT usage_date, user_email, 'claude'::text, platform,
           billed_cost_usd,
           estimated_cost_usd,
           uncached_input_tokens + cache_creation_input_tokens + cache_read_input_tokens
               + output_tokens,
           coalesce(requests, 0)::numeric,
           coalesce(lines_added, 0),
           sessions,
           false
      FROM claude_usage_by_user_day
"""


def upgrade() -> None:
    columns = ", ".join(f"ADD COLUMN {name} {kind} NULL" for name, kind in SPEND_COLUMNS)
    op.execute(f"ALTER TABLE fact_cursor_daily_usage {columns}")
    # Every row so far came from daily usage; rows the spend source adds alone do not.
    op.execute(
        "ALTER TABLE fact_cursor_daily_usage"
        " ADD COLUMN in_daily_usage boolean NOT NULL DEFAULT true"
    )
    op.execute("ALTER TABLE fact_cursor_daily_usage ALTER COLUMN in_daily_usage SET DEFAULT false")
    op.execute("ALTER TABLE ingestion_run_sources ADD COLUMN details jsonb NULL")
    op.execute(CROSS_TOOL_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW ai_usage_by_user_day")
    op.execute("ALTER TABLE ingestion_run_sources DROP COLUMN details")
    op.execute("DELETE FROM fact_cursor_daily_usage WHERE NOT in_daily_usage")
    op.execute("ALTER TABLE fact_cursor_daily_usage DROP COLUMN in_daily_usage")
    columns = ", ".join(f"DROP COLUMN {name}" for name, _ in SPEND_COLUMNS)
    op.execute(f"ALTER TABLE fact_cursor_daily_usage {columns}")
