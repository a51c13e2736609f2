"""Cursor money that says what it is: charged, of which billed beyond the plan and included in
it; model cost after discount, with the discount kept; events whose cost was derived.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

- `fact_cursor_daily_usage` gains `on_demand_cost_usd` (Σ `chargedCents` of events billed
  beyond the plan: `kind` usage-based, `isChargeable` where `kind` says neither),
  `included_cost_usd` (Σ `chargedCents` of events included in the plan), `discount_usd`
  (Σ `tokenUsage.totalCents × discountPercentOff / 100`) and `derived_cost_events` (events whose
  `chargedCents` or `totalCents` was absent and derived from the documented formula).
  `model_cost_usd` is now the model cost **after** the discount, so that model cost + token
  fee = charged for every token-based event.
- `ai_usage_by_user_day.billed_cost_usd` is, for Cursor, what reaches the invoice beyond the
  plan (`on_demand_cost_usd`); the included part is its own column, `included_cost_usd`.
- The spend days stored so far lack the new columns and hold model cost before discount: their
  coverage and digests are dropped, so the next heal re-reads them (within
  BACKFILL_HORIZON_DAYS; older days: `usage-pipeline run --sources cursor_spend …`).
"""

from collections.abc import Sequence

from alembic import op
from app.repositories.migrations import frozen_migration

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("on_demand_cost_usd", "numeric"),
    ("included_cost_usd", "numeric"),
    ("discount_usd", "numeric"),
    ("derived_cost_events", "bigint"),
)

VIEW = """
    CREATE VIEW ai_usage_by_user_day AS
    SELECT usage_date, email AS user_email, 'cursor'::text AS tool, 'cursor'::text AS platform,
           coalesce(on_demand_cost_usd, 0) AS billed_cost_usd,
           0::numeric AS estimated_cost_usd,
           coalesce(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens, 0)
               AS tokens,
           coalesce(billable_requests, 0) AS requests,
           accepted_lines_added AS accepted_lines,
           NULL::bigint AS sessions,
           service_account_id IS NOT NULL AS is_service_account,
           coalesce(included_cost_usd, 0) AS included_cost_usd
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
           false,
           0::numeric
      FROM claude_usage_by_user_day
"""


def upgrade() -> None:
    columns = ", ".join(f"ADD COLUMN {name} {kind} NULL" for name, kind in COLUMNS)
    op.execute(f"ALTER TABLE fact_cursor_daily_usage {columns}")
    op.execute("DROP VIEW ai_usage_by_user_day")
    op.execute(VIEW)
    op.execute("DELETE FROM coverage_days WHERE source = 'cursor_spend'")
    op.execute("DELETE FROM fact_day_digests WHERE source = 'cursor_spend'")


def downgrade() -> None:
    op.execute("DROP VIEW ai_usage_by_user_day")
    op.execute(frozen_migration("0008_cursor_spend.py").CROSS_TOOL_VIEW)
    columns = ", ".join(f"DROP COLUMN {name}" for name, _ in COLUMNS)
    op.execute(f"ALTER TABLE fact_cursor_daily_usage {columns}")
