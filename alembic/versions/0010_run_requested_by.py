"""Who asked for each run: the API token's name, `schedule` or `cli`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

The service writes it for every run it creates; a row inserted by hand may leave it NULL.
Runs queued over the API before this revision could only have been started with API_TOKEN,
whose name is `api_token`; scheduled and CLI runs are named after their trigger.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE ingestion_runs ADD COLUMN requested_by text")
    op.execute(
        "UPDATE ingestion_runs SET requested_by ="
        " CASE trigger WHEN 'api' THEN 'api_token' ELSE trigger END"
    )
    op.execute(
        "CREATE INDEX ingestion_runs_queued_by ON ingestion_runs (requested_by)"
        " WHERE status = 'queued'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ingestion_runs_queued_by")
    op.execute("ALTER TABLE ingestion_runs DROP COLUMN requested_by")
