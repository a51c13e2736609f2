"""Enterprise Analytics' organisation remainder: counted in the analyst views only where no
Admin messages-usage report covers the day.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

`claude_ai_analytics` rows with `actor_type = 'organization_remainder'` hold, per day and
product, what the organisation's bucketed Analytics reports show beyond its seat users: direct
API-key and automation traffic. An organisation whose Admin API is configured has that traffic
already, attributed, from the messages usage and cost reports (`claude_usage`); adding the
remainder too would count it twice. So `claude_usage_by_user_day` counts a remainder row's
tokens, requests and cost only on a day `claude_usage` never fetched. The rows themselves stay
in `fact_claude_daily_usage` either way: per-person rows plus the remainder equal the
organisation's report.
"""

from collections.abc import Sequence

from alembic import op
from app.repositories.migrations import frozen_migration

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD_CASE = (
    "CASE\n                     WHEN source IN ('usage_report', 'claude_ai_analytics') THEN true"
)
NEW_CASE = """CASE
                     WHEN actor_type = 'organization_remainder' THEN NOT EXISTS (
                         SELECT 1 FROM coverage_days c
                          WHERE c.usage_date = f.usage_date AND c.source = 'claude_usage'
                            AND c.last_fetched_at IS NOT NULL)
                     WHEN source IN ('usage_report', 'claude_ai_analytics') THEN true"""
OLD_DEDUP = "bool_or(source = 'claude_ai_analytics' AND product = 'claude_code')"
NEW_DEDUP = (
    "bool_or(source = 'claude_ai_analytics' AND product = 'claude_code'"
    " AND actor_type IS DISTINCT FROM 'organization_remainder')"
)
OLD_BILLED = "FILTER (WHERE cost_kind IN ('allocated', 'reported'))"
NEW_BILLED = (
    "FILTER (WHERE cost_kind IN ('allocated', 'reported')"
    " AND (actor_type IS DISTINCT FROM 'organization_remainder' OR counts_tokens))"
)


def _views() -> tuple[str, str, str]:
    """(the claude view as it was, as it is now, the cross-tool view over it)."""
    before = frozen_migration("0007_directory_history.py")._view()
    changes = ((OLD_CASE, NEW_CASE), (OLD_DEDUP, NEW_DEDUP), (OLD_BILLED, NEW_BILLED))
    after = before
    for old, new in changes:
        assert old in after, old
        after = after.replace(old, new)
    cross_tool = frozen_migration("0011_cursor_money.py").VIEW
    return before, after, cross_tool


def upgrade() -> None:
    _, after, cross_tool = _views()
    op.execute("DROP VIEW ai_usage_by_user_day")
    op.execute("DROP VIEW claude_usage_by_user_day")
    op.execute(after)
    op.execute(cross_tool)


def downgrade() -> None:
    before, _, cross_tool = _views()
    op.execute("DROP VIEW ai_usage_by_user_day")
    op.execute("DROP VIEW claude_usage_by_user_day")
    op.execute(before)
    op.execute(cross_tool)
