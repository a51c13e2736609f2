"""Per-row hashes beside each day digest: a revised day writes only the rows that changed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

`fact_day_digests.row_hashes` holds an 8-byte hash of every row a (table, source, day) was
written with. When a day comes back with a different digest, only the rows whose hash is not
among the stored ones are sent and merged; the rest are known unchanged. A day whose rows
shrank (the held count says so) is written the whole way, as before. Digests are dropped with
any write by someone else (0003), so the hashes never describe rows that were changed behind
the pipeline's back; NULL (days written before this revision) means the whole way.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE fact_day_digests ADD COLUMN row_hashes bytea")


def downgrade() -> None:
    op.execute("ALTER TABLE fact_day_digests DROP COLUMN row_hashes")
