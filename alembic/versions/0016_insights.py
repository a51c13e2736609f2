"""Answers: teams, budgets, and the alerts outbox with its deliveries.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

- `person_teams`: which team a person (email) belongs to from a day on; the latest
  `effective_from` on or before a day is the person's team that day (history stays right when
  someone moves). People without one are `unassigned`.
- `budgets`: a monthly amount in USD for one scope (`organization`, `account`, `team`,
  `person`, `tool`) with its thresholds (fractions of the amount).
- `alerts`: the outbox. One row per thing to say, unique by `dedup_key`: a (budget, month,
  threshold) can only ever be inserted once, whichever replica, run or revision gets there.
- `alert_deliveries`: one row per (alert, webhook target), delivered by a worker with retries.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    """
    CREATE TABLE person_teams (
        email          text        NOT NULL,
        team           text        NOT NULL,
        effective_from date        NOT NULL,
        note           text        NULL,
        PRIMARY KEY (email, effective_from)
    )
    """,
    """
    CREATE TABLE budgets (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        scope        text        NOT NULL
                     CHECK (scope IN ('organization', 'account', 'team', 'person', 'tool')),
        scope_value  text        NOT NULL DEFAULT '',
        monthly_usd  numeric     NOT NULL CHECK (monthly_usd > 0),
        thresholds   numeric[]   NOT NULL DEFAULT '{0.8,1.0}',
        created_at   timestamptz NOT NULL DEFAULT now(),
        updated_at   timestamptz NOT NULL DEFAULT now(),
        UNIQUE (scope, scope_value)
    )
    """,
    """
    CREATE TABLE alerts (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind        text        NOT NULL,
        dedup_key   text        NOT NULL UNIQUE,
        payload     jsonb       NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE alert_deliveries (
        alert_id        bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
        target          text        NOT NULL,
        status          text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error      text        NULL,
        delivered_at    timestamptz NULL,
        PRIMARY KEY (alert_id, target)
    )
    """,
    "CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at)"
    " WHERE status = 'pending'",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("alert_deliveries", "alerts", "budgets", "person_teams"):
        op.execute(f"DROP TABLE {table}")
