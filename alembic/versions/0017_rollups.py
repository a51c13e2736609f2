"""Rollups the dashboard reads: a person's day, a team's day, a person's month, a week's active
people — kept equal to the cross-tool view by rebuilding the days (or months) a change touches.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

- `rollup_person_day`: `ai_usage_by_person_day` summed per (day, person, tool, platform,
  account) with the person's team that day, whether the day is final (the coverage ledger) and
  how surely the rows are attributed (the least sure row's method and confidence).
- `rollup_spend_day`, `rollup_person_month`, `rollup_active_week`: sums of it.
- `rollup_stale_months` (with `rollup_stale_days`): what no longer matches the facts. A run
  marks the days of its window (and their months), a change of teams or aliases marks every
  month `whole`; a refresher claims a month (`FOR UPDATE SKIP LOCKED`), rebuilds its marked days
  (or all of it) in one transaction and removes each mark only if nobody marked it again
  meanwhile (`generation`).
- `rollup_months`: the months built, and when.
- `rollup_seat_use` (with `rollup_seat_window`): every seat's use over the idle-seat window
  ending yesterday, as the seat report reads it; rebuilt after each part and when the day turns.
- `person_day_attribution`: each tool's attribution per (account, day, platform, address).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = """
    billed_usd                 numeric NOT NULL,
    billed_provisional_usd     numeric NOT NULL,
    estimated_usd              numeric NOT NULL,
    estimated_provisional_usd  numeric NOT NULL,
    consumption_usd            numeric NOT NULL,
    consumption_provisional_usd numeric NOT NULL,
"""

STATEMENTS = (
    "CREATE SEQUENCE rollup_generation",
    """
    CREATE TABLE rollup_stale_months (
        month      date        PRIMARY KEY CHECK (month = date_trunc('month', month)::date),
        generation bigint      NOT NULL DEFAULT nextval('rollup_generation'),
        whole      boolean     NOT NULL DEFAULT true,
        marked_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE rollup_stale_days (
        usage_date date   PRIMARY KEY,
        generation bigint NOT NULL DEFAULT nextval('rollup_generation')
    )
    """,
    """
    CREATE TABLE rollup_months (
        month        date        PRIMARY KEY,
        refreshed_at timestamptz NOT NULL,
        person_days  integer     NOT NULL
    )
    """,
    """
    CREATE TABLE rollup_person_day (
        usage_date             date    NOT NULL,
        person                 text    NOT NULL,
        tool                   text    NOT NULL,
        platform               text    NOT NULL,
        account                text    NOT NULL,
        team                   text    NOT NULL,
        billed_usd             numeric NOT NULL,
        estimated_usd          numeric NOT NULL,
        consumption_usd        numeric NOT NULL,
        tokens                 numeric NOT NULL,
        requests               numeric NOT NULL,
        accepted_lines         bigint  NOT NULL,
        sessions               bigint  NULL,
        final                  boolean NOT NULL,
        active                 boolean NOT NULL,
        attribution_method     text    NULL,
        attribution_confidence numeric(3, 2) NULL,
        PRIMARY KEY (usage_date, person, tool, platform, account)
    )
    """,
    "CREATE INDEX rollup_person_day_person ON rollup_person_day (person, usage_date)",
    f"""
    CREATE TABLE rollup_spend_day (
        usage_date date NOT NULL,
        tool       text NOT NULL,
        platform   text NOT NULL,
        account    text NOT NULL,
        team       text NOT NULL,
        {MONEY}
        people     integer NOT NULL,
        PRIMARY KEY (usage_date, tool, platform, account, team)
    )
    """,
    f"""
    CREATE TABLE rollup_person_month (
        month       date NOT NULL,
        person      text NOT NULL,
        tool        text NOT NULL,
        platform    text NOT NULL,
        account     text NOT NULL,
        team        text NOT NULL,
        {MONEY}
        active_days integer NOT NULL,
        last_active date    NULL,
        PRIMARY KEY (month, person, tool, platform, account, team)
    )
    """,
    """
    CREATE TABLE rollup_active_week (
        week          date    NOT NULL,
        tool          text    NOT NULL,
        platform      text    NOT NULL,
        active_people integer NOT NULL,
        PRIMARY KEY (week, tool, platform)
    )
    """,
    """
    CREATE TABLE rollup_seat_use (
        tool         text    NOT NULL,
        account      text    NOT NULL,
        seat         text    NOT NULL,
        email        text    NULL,
        plan         text    NULL,
        since        date    NULL,
        last_active  date    NULL,
        active_days  integer NOT NULL,
        fetched_days integer NOT NULL
    )
    """,
    """
    CREATE TABLE rollup_seat_window (
        only_one     boolean     PRIMARY KEY DEFAULT true CHECK (only_one),
        window_start date        NOT NULL,
        window_end   date        NOT NULL,
        refreshed_at timestamptz NOT NULL
    )
    """,
    """
    CREATE VIEW person_day_attribution AS
    SELECT account, usage_date, 'cursor'::text AS tool, 'cursor'::text AS platform,
           email AS user_email, attribution_method, attribution_confidence
      FROM fact_cursor_daily_usage
    UNION ALL
    SELECT account, usage_date, 'claude', platform, user_email, attribution_method,
           attribution_confidence
      FROM fact_claude_daily_usage
    UNION ALL
    SELECT account, usage_date, 'copilot', 'copilot', email, attribution_method,
           attribution_confidence
      FROM fact_copilot_daily_usage
    """,
    # Everything already stored is built by the first refresher to start.
    """
    INSERT INTO rollup_stale_months (month)
    SELECT DISTINCT date_trunc('month', usage_date)::date FROM coverage_days
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW person_day_attribution")
    for table in ("rollup_stale_days", "rollup_seat_window", "rollup_seat_use", "rollup_active_week",
                  "rollup_person_month", "rollup_spend_day",
                  "rollup_person_day", "rollup_months", "rollup_stale_months"):  # fmt: skip
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP SEQUENCE rollup_generation")
