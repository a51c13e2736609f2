"""Day digests (skip writing a day the upstream restated identically) and leaner indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

`fact_day_digests` holds, per (table, source, day), a digest of the rows the pipeline last
wrote. A re-run whose rows hash to the stored digest has nothing to write and skips the day.

The digest is only trusted while nobody else touched the table: a statement trigger on both
fact tables drops every digest of that table when a statement runs outside the pipeline's own
write transactions (which set `ai_usage_pipeline.writer`). A hand edit, a retention DELETE or a
TRUNCATE therefore makes the next run compare row by row again instead of skipping.

Secondary indexes go: `(user_email, usage_date)`, `(platform, usage_date)` and
`(source, usage_date)` on the Claude table and `(email, usage_date)` on the Cursor table each
cost 10–25 % of load time (docs/performance.md) and serve no query of ours. The primary keys
lead with `usage_date`, which date-bounded analyst queries use (filters on the view's grouping
columns are pushed down to them). Add an index if a workload needs point lookups by person.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACT_TABLES = ("fact_cursor_daily_usage", "fact_claude_daily_usage")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE fact_day_digests (
            target_table text NOT NULL,
            source       text NOT NULL,
            usage_date   date NOT NULL,
            digest       bytea NOT NULL,
            row_count    integer NOT NULL CHECK (row_count >= 0),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (target_table, source, usage_date)
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION invalidate_fact_day_digests() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF coalesce(current_setting('ai_usage_pipeline.writer', true), '') <> 'on' THEN
                DELETE FROM fact_day_digests WHERE target_table = TG_TABLE_NAME;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for table in FACT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_invalidate_digests"
            f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION invalidate_fact_day_digests()"
        )
    op.execute("DROP INDEX IF EXISTS ix_fact_claude_email_date")
    op.execute("DROP INDEX IF EXISTS ix_fact_claude_platform_date")
    op.execute("DROP INDEX IF EXISTS ix_fact_claude_source_date")
    op.execute("DROP INDEX IF EXISTS ix_fact_cursor_email_date")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX ix_fact_cursor_email_date ON fact_cursor_daily_usage (email, usage_date)"
    )
    op.execute(
        "CREATE INDEX ix_fact_claude_source_date ON fact_claude_daily_usage (source, usage_date)"
    )
    op.execute(
        "CREATE INDEX ix_fact_claude_platform_date ON fact_claude_daily_usage (platform, usage_date)"
    )
    op.execute(
        "CREATE INDEX ix_fact_claude_email_date ON fact_claude_daily_usage (user_email, usage_date)"
    )
    for table in FACT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_invalidate_digests ON {table}")
    op.execute("DROP FUNCTION IF EXISTS invalidate_fact_day_digests()")
    op.execute("DROP TABLE IF EXISTS fact_day_digests")
