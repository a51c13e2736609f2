"""The toy upstream's fact table.

Revision ID: toy
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "toy"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE fact_toy_daily_usage (
            account                text          NOT NULL,
            usage_date             date          NOT NULL,
            source                 text          NOT NULL CHECK (source IN ('toy_usage')),
            email                  text          NOT NULL,
            events                 integer       NOT NULL CHECK (events >= 0),
            attribution_method     text          NOT NULL,
            attribution_confidence numeric(3, 2) NOT NULL,
            run_id                 uuid          NULL,
            first_seen_at          timestamptz   NOT NULL DEFAULT now(),
            updated_at             timestamptz   NOT NULL DEFAULT now(),
            PRIMARY KEY (account, usage_date, email)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE fact_toy_daily_usage")
