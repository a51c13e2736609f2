"""`fact_day_digests.source` holds one vocabulary: fact labels.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

The Claude table's days were labelled by their feed (`usage_report`, `cost_report`, …) and the
Cursor table's by the source that wrote them (`cursor`, `cursor_spend`). Cursor's two feeds now
have labels of their own (`cursor_daily_usage`, `cursor_usage_events`, owned by
`app.upstreams.cursor.facts.CursorLabel`); the stored digests are relabelled, so no day is
written again for it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMED = (("cursor", "cursor_daily_usage"), ("cursor_spend", "cursor_usage_events"))


def _relabel(pairs: Sequence[tuple[str, str]]) -> None:
    for old, new in pairs:
        op.execute(
            f"UPDATE fact_day_digests SET source = '{new}'"
            f" WHERE target_table = 'fact_cursor_daily_usage' AND source = '{old}'"
        )


def upgrade() -> None:
    _relabel(RENAMED)


def downgrade() -> None:
    _relabel([(new, old) for old, new in RENAMED])
