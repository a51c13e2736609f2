"""Analyst view claude_usage_by_user_day: each quantity from exactly one source.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Claude Code API traffic appears twice upstream: in `usage_report/claude_code` and in the
messages report under the Claude Code workspace. The view takes
- tokens and billed cost from the messages/cost reports, plus Claude Code analytics rows with
  customer_type 'subscription' (the reports do not bill those) and claude.ai analytics rows;
- productivity counters only from Claude Code analytics;
- estimated cost only from Claude Code analytics.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_SOURCE = """(
    source IN ('usage_report', 'claude_ai_analytics')
    OR (source = 'claude_code_analytics' AND customer_type = 'subscription')
)"""


def upgrade() -> None:
    tokens = ",\n".join(
        f"    COALESCE(sum({column}) FILTER (WHERE {TOKEN_SOURCE}), 0)::bigint AS {column}"
        for column in (
            "uncached_input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        )
    )
    productivity = ",\n".join(
        f"    sum({column}) FILTER (WHERE source = 'claude_code_analytics')::bigint AS {column}"
        for column in (
            "sessions",
            "lines_added",
            "lines_removed",
            "commits",
            "pull_requests",
            "tool_accepted",
            "tool_rejected",
        )
    )
    op.execute(
        f"""
        CREATE VIEW claude_usage_by_user_day AS
        SELECT
            usage_date,
            platform,
            user_email,
        {tokens},
            COALESCE(sum(cost_usd) FILTER (WHERE cost_kind IN ('allocated', 'reported')), 0)
                AS billed_cost_usd,
            COALESCE(sum(cost_usd) FILTER (WHERE cost_kind = 'estimated'), 0)
                AS estimated_cost_usd,
        {productivity},
            min(attribution_confidence) AS min_attribution_confidence
        FROM fact_claude_daily_usage
        GROUP BY usage_date, platform, user_email
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS claude_usage_by_user_day")
