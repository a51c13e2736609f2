"""Accounts: an account in every number's key; runs in (account, source) parts; people aliases.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Every table keyed by an upstream's ids gains `account` (the name of the Cursor team or Anthropic
organisation the row came from, app.accounts) as the first column of its key: the same key id
or user id in two organisations are two things. Existing rows belong to the account `default`
(the single-key settings, as before); the default is dropped afterwards, so every writer names
its account. Adding a column with a constant default rewrites nothing; the primary keys are
rebuilt (one index build per table).

Runs record their `accounts` and are executed in parts (`ingestion_run_parts`): one account's
sources that share a day's work, claimed by any worker process of any replica. Runs still
active when this migrates get one part (account `default`, every source), as they were.

`person_aliases` maps extra addresses to one person; `ai_usage_by_person_day` counts each
person once across accounts and tools, keeping account, tool and platform in its grain.
"""

from collections.abc import Sequence

from alembic import op
from app.repositories.migrations import frozen_migration

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → (primary key before, after); `None`: keyed by unique indexes instead.
KEYED: dict[str, tuple[str, str] | None] = {
    "fact_cursor_daily_usage": ("usage_date, email", "account, usage_date, email"),
    "fact_claude_daily_usage": ("usage_date, grain_key", "account, usage_date, grain_key"),
    "fact_day_digests": (
        "target_table, source, usage_date",
        "target_table, account, source, usage_date",
    ),
    "claude_cost_lines": ("usage_date, line_no", "account, usage_date, line_no"),
    "coverage_days": ("source, usage_date", "account, source, usage_date"),
    "directory_users": ("user_id", "account, user_id"),
    "directory_api_keys": ("api_key_id", "account, api_key_id"),
    "directory_api_key_names": ("api_key_id, name", "account, api_key_id, name"),
    "known_workspaces": ("workspace_id", "account, workspace_id"),
    "ingestion_run_sources": ("run_id, source", "run_id, account, source"),
    "api_key_owners": None,
}

CLAUDE_VIEW_CHANGES = (
    (
        "OVER (PARTITION BY usage_date, user_email)",
        "OVER (PARTITION BY account, usage_date, user_email)",
    ),
    (
        "WHERE c.usage_date = f.usage_date AND c.source = 'claude_usage'",
        "WHERE c.account = f.account AND c.usage_date = f.usage_date AND c.source = 'claude_usage'",
    ),
    (
        "SELECT r.usage_date, r.platform, r.user_email,",
        "SELECT r.account, r.usage_date, r.platform, r.user_email,",
    ),
    (
        "WHERE c.usage_date = r.usage_date AND c.source = ANY",
        "WHERE c.account = r.account AND c.usage_date = r.usage_date AND c.source = ANY",
    ),
    (
        "GROUP BY r.usage_date, r.platform, r.user_email",
        "GROUP BY r.account, r.usage_date, r.platform, r.user_email",
    ),
)

CROSS_TOOL_CHANGES = (
    ("SELECT usage_date, email AS user_email,", "SELECT account, usage_date, email AS user_email,"),
    (
        "SELECT usage_date, user_email, 'claude'::text,",
        "SELECT account, usage_date, user_email, 'claude'::text,",
    ),
)


def _cross_tool_view() -> str:
    """0011's cross-tool view with `account` first in both branches."""
    view: str = frozen_migration("0011_cursor_money.py").VIEW
    for old, new in CROSS_TOOL_CHANGES:
        assert old in view, old
        view = view.replace(old, new)
    return view


PERSON_VIEW = """
    CREATE VIEW ai_usage_by_person_day AS
    SELECT coalesce(a.person_email, lower(u.user_email)) AS person_email, u.*
      FROM ai_usage_by_user_day u
      LEFT JOIN person_aliases a ON a.alias_email = lower(u.user_email)
"""

COVERAGE_VIEW = """
    CREATE VIEW ingestion_coverage AS
    SELECT account, source, usage_date,
           CASE WHEN last_fetched_at IS NULL THEN 'failed'
                WHEN last_fetched_at >= final_after THEN 'final'
                ELSE 'provisional' END AS state,
           last_run_id, last_fetched_at, last_rows, final_after, data_refreshed_at,
           last_failed_at, last_error, failures
      FROM coverage_days
"""

OLD_COVERAGE_VIEW = COVERAGE_VIEW.replace("SELECT account, source,", "SELECT source,")


def _claude_views() -> tuple[str, str]:
    """(the claude view as 0012 made it, with accounts)."""
    before = frozen_migration("0012_analytics_remainder.py")._views()[1]
    after = before
    for old, new in CLAUDE_VIEW_CHANGES:
        assert old in after, old
        after = after.replace(old, new)
    return before, after


def _drop_views() -> None:
    for view in (
        "ai_usage_by_person_day",
        "ai_usage_by_user_day",
        "claude_usage_by_user_day",
        "ingestion_coverage",
    ):
        op.execute(f"DROP VIEW IF EXISTS {view}")


def upgrade() -> None:
    _drop_views()
    op.execute(
        "ALTER TABLE directory_api_key_names"
        " DROP CONSTRAINT directory_api_key_names_api_key_id_fkey"
    )
    for table, keys in KEYED.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN account text NOT NULL DEFAULT 'default'")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN account DROP DEFAULT")
        if keys is not None:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
            op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({keys[1]})")
    op.execute(
        "ALTER TABLE directory_api_key_names ADD CONSTRAINT directory_api_key_names_key_fkey"
        " FOREIGN KEY (account, api_key_id) REFERENCES directory_api_keys (account, api_key_id)"
        " ON DELETE CASCADE"
    )
    op.execute("DROP INDEX ix_directory_api_key_names_name")
    op.execute(
        "CREATE INDEX ix_directory_api_key_names_name ON directory_api_key_names (account, name)"
    )
    op.execute("DROP INDEX ux_api_key_owners_key_id")
    op.execute("DROP INDEX ux_api_key_owners_key_name")
    op.execute(
        "CREATE UNIQUE INDEX ux_api_key_owners_key_id ON api_key_owners (account, api_key_id)"
        " WHERE api_key_id IS NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_api_key_owners_key_name ON api_key_owners (account, key_name)"
        " WHERE api_key_id IS NULL"
    )
    _runs_in_parts()
    op.execute(
        """
        CREATE TABLE person_aliases (
            alias_email  text PRIMARY KEY CHECK (alias_email = lower(btrim(alias_email))),
            person_email text NOT NULL CHECK (person_email = lower(btrim(person_email))),
            note         text,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            CHECK (alias_email <> person_email)
        )
        """
    )
    _, claude_view = _claude_views()
    op.execute(COVERAGE_VIEW)
    op.execute(claude_view)
    op.execute(_cross_tool_view())
    op.execute(PERSON_VIEW)


def _runs_in_parts() -> None:
    op.execute("ALTER TABLE ingestion_runs ADD COLUMN accounts text[] NOT NULL DEFAULT '{default}'")
    op.execute("ALTER TABLE ingestion_runs ALTER COLUMN accounts DROP DEFAULT")
    # Source windows are kept per account: {"account": {"source": [first, last]}}.
    op.execute(
        "UPDATE ingestion_runs SET source_windows = jsonb_build_object('default', source_windows)"
        " WHERE source_windows IS NOT NULL"
    )
    op.execute(
        """
        CREATE TABLE ingestion_run_parts (
            run_id       uuid NOT NULL REFERENCES ingestion_runs (id) ON DELETE CASCADE,
            part_no      integer NOT NULL CHECK (part_no >= 0),
            account      text NOT NULL,
            sources      text[] NOT NULL,
            status       text NOT NULL DEFAULT 'queued' CHECK (status IN (
                             'queued', 'running', 'succeeded', 'partial', 'failed',
                             'cancelled', 'crashed')),
            worker_id    text,
            started_at   timestamptz,
            heartbeat_at timestamptz,
            finished_at  timestamptz,
            status_reason text,
            PRIMARY KEY (run_id, part_no)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_ingestion_run_parts_active ON ingestion_run_parts (status, run_id)"
        " WHERE status IN ('queued', 'running')"
    )
    op.execute(
        """
        INSERT INTO ingestion_run_parts (run_id, part_no, account, sources, status, worker_id,
                                         started_at, heartbeat_at)
        SELECT id, 0, 'default', sources, status, worker_id, started_at, heartbeat_at
          FROM ingestion_runs WHERE status IN ('queued', 'running')
        """
    )


def downgrade() -> None:
    """Back to one account: rows of any other account are deleted (the old keys cannot hold
    them)."""
    # The rows kept are the ones the digests describe: not a foreign edit (migration 0003).
    op.execute("SELECT set_config('ai_usage_pipeline.writer', 'on', true)")
    _drop_views()
    op.execute("DROP TABLE person_aliases")
    op.execute("DROP TABLE ingestion_run_parts")
    op.execute(
        "UPDATE ingestion_runs SET source_windows = source_windows -> 'default'"
        " WHERE source_windows IS NOT NULL"
    )
    op.execute("ALTER TABLE ingestion_runs DROP COLUMN accounts")
    op.execute(
        "ALTER TABLE directory_api_key_names DROP CONSTRAINT directory_api_key_names_key_fkey"
    )
    for table, keys in KEYED.items():
        op.execute(f"DELETE FROM {table} WHERE account <> 'default'")
        if keys is not None:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
            op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({keys[0]})")
    op.execute("DROP INDEX ux_api_key_owners_key_id")
    op.execute("DROP INDEX ux_api_key_owners_key_name")
    op.execute("DROP INDEX ix_directory_api_key_names_name")
    for table in KEYED:
        op.execute(f"ALTER TABLE {table} DROP COLUMN account")
    op.execute(
        "CREATE UNIQUE INDEX ux_api_key_owners_key_id ON api_key_owners (api_key_id)"
        " WHERE api_key_id IS NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_api_key_owners_key_name ON api_key_owners (key_name)"
        " WHERE api_key_id IS NULL"
    )
    op.execute("CREATE INDEX ix_directory_api_key_names_name ON directory_api_key_names (name)")
    op.execute(
        "ALTER TABLE directory_api_key_names ADD CONSTRAINT directory_api_key_names_api_key_id_fkey"
        " FOREIGN KEY (api_key_id) REFERENCES directory_api_keys (api_key_id) ON DELETE CASCADE"
    )
    before, _ = _claude_views()
    op.execute(OLD_COVERAGE_VIEW)
    op.execute(before)
    op.execute(frozen_migration("0011_cursor_money.py").VIEW)
