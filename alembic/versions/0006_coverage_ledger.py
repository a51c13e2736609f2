"""The coverage ledger: how every (source, day) is known.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

- `coverage_days`: per (source, day) the last successful fetch (run, time, rows, digest), when
  the day becomes final (`final_after`: the day's end plus the source's revision horizon), the
  upstream's freshness marker where it gives one, and the last failed attempt. A day without a
  row is `missing`.
- `ingestion_coverage` (view): each recorded (source, day) with its state — `failed` (never
  fetched, last attempt failed), `provisional` (fetched before its horizon passed) or `final`
  (fetched after it).
- `ingestion_runs.source_windows`: a run may give each source its own sub-window (a heal run
  re-reads each source's own missing and provisional days, not one window for all).
- `claude_usage_by_user_day.is_final`: every ledger day of the sources behind the row's
  platform is final — keep `WHERE is_final` to alert only on numbers that will not move.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The sources behind each platform of the Claude view (registry names, as the ledger keys them).
PLATFORM_SOURCES = {
    "claude_code": ("claude_code", "claude_usage", "claude_cost"),
    "claude_api": ("claude_usage", "claude_cost"),
    "claude_ai": ("claude_ai",),
}


def _sources_of(platform_column: str) -> str:
    cases = " ".join(
        f"WHEN '{platform}' THEN ARRAY[{', '.join(repr(s) for s in sources)}]"
        for platform, sources in PLATFORM_SOURCES.items()
    )
    return f"CASE {platform_column} {cases} END"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE coverage_days (
            source              text        NOT NULL,
            usage_date          date        NOT NULL,
            last_run_id         uuid        NULL,
            last_fetched_at     timestamptz NULL,
            last_rows           integer     NULL CHECK (last_rows >= 0),
            last_digest         bytea       NULL,
            final_after         timestamptz NULL,
            data_refreshed_at   timestamptz NULL,
            last_failed_at      timestamptz NULL,
            last_failed_run_id  uuid        NULL,
            last_error          text        NULL,
            failures            integer     NOT NULL DEFAULT 0,
            updated_at          timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (source, usage_date),
            CHECK (last_fetched_at IS NULL OR final_after IS NOT NULL)
        )
        """
    )
    op.execute(
        """
        CREATE VIEW ingestion_coverage AS
        SELECT source, usage_date,
               CASE WHEN last_fetched_at IS NULL THEN 'failed'
                    WHEN last_fetched_at >= final_after THEN 'final'
                    ELSE 'provisional' END AS state,
               last_run_id, last_fetched_at, last_rows, final_after, data_refreshed_at,
               last_failed_at, last_error, failures
          FROM coverage_days
        """
    )
    op.execute("ALTER TABLE ingestion_runs ADD COLUMN source_windows jsonb NULL")
    add_is_final()


def add_is_final() -> None:
    """The analyst view gains `is_final`, wrapped around its own definition as it stands."""
    is_final = f"""
        EXISTS (SELECT 1 FROM ingestion_coverage c
                 WHERE c.usage_date = v.usage_date AND c.source = ANY ({_sources_of("v.platform")}))
        AND NOT EXISTS (SELECT 1 FROM ingestion_coverage c
                 WHERE c.usage_date = v.usage_date AND c.source = ANY ({_sources_of("v.platform")})
                   AND c.state <> 'final')
    """
    op.execute(
        f"""
        DO $$
        DECLARE definition text := rtrim(pg_get_viewdef('claude_usage_by_user_day'::regclass), ';');
        BEGIN
            EXECUTE format(
                'CREATE OR REPLACE VIEW claude_usage_by_user_day AS SELECT v.*, %s AS is_final'
                ' FROM (%s) AS v', $is_final${is_final}$is_final$, definition);
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW claude_usage_by_user_day")
    # Recreated as migration 0002 defines it.
    path = Path(__file__).with_name("0002_claude_usage_by_user_day.py")
    spec = importlib.util.spec_from_file_location("migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.upgrade()
    op.execute("ALTER TABLE ingestion_runs DROP COLUMN source_windows")
    op.execute("DROP VIEW ingestion_coverage")
    op.execute("DROP TABLE coverage_days")
