"""Stored cost-report lines, how each allocated cent was placed, and what a source skipped or
warned about.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

- `claude_cost_lines`: each day's cost-report lines as received (workspace, description and
  coordinates, amount in USD). Allocation is a pure function of (usage rows, cost lines), so a
  usage day is always written with the cost lines stored for it: a usage-only run, or a cost
  report failing part-way, recomputes the allocation instead of keeping stale proportions, and
  allocated + reported always equals the stored report.
- `fact_claude_daily_usage.allocation_basis`: the coordinate level an allocated cost was matched
  at (`exact`, then with one dimension relaxed, then model and token type, then model alone).
- `ingestion_run_sources.skipped_by_reason` (rows skipped per reason) and `warnings` (e.g. days
  that came back empty and were not applied).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE claude_cost_lines (
            usage_date     date    NOT NULL,
            line_no        integer NOT NULL CHECK (line_no >= 0),
            workspace_id   text    NULL,
            description    text    NULL,
            cost_type      text    NULL,
            model          text    NULL,
            token_type     text    NULL,
            service_tier   text    NULL,
            context_window text    NULL,
            inference_geo  text    NULL,
            amount_usd     numeric NOT NULL,
            run_id         uuid    NULL,
            fetched_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (usage_date, line_no)
        )
        """
    )
    op.execute(
        """
        ALTER TABLE fact_claude_daily_usage
          ADD COLUMN allocation_basis text NULL
            CHECK (allocation_basis IS NULL OR cost_kind IN ('allocated', 'reported'))
        """
    )
    op.execute(
        """
        ALTER TABLE ingestion_run_sources
          ADD COLUMN skipped_by_reason jsonb NOT NULL DEFAULT '{}'::jsonb,
          ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]'::jsonb
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE ingestion_run_sources DROP COLUMN warnings, DROP COLUMN skipped_by_reason"
    )
    op.execute("ALTER TABLE fact_claude_daily_usage DROP COLUMN allocation_basis")
    op.execute("DROP TABLE claude_cost_lines")
