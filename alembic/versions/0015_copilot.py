"""GitHub Copilot: per-user daily usage, seats with history, AI-credit billing; the cross-tool
view gains `tool = 'copilot'` and a third kind of money.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

- `fact_copilot_daily_usage`: one row per (account, day, GitHub user id) from the usage-metrics
  report (`users-1-day`), its counters, its breakdowns as JSON, `ai_credits_used` (a
  consumption signal in AI credits, 1 credit = USD 0.01; NULL where the report predates it,
  never 0) and the adoption phase. A login no identity resolves keeps its row (email NULL).
  Every row says how its money is known (`cost_basis`: `consumption` here, `billed` below).
- `fact_copilot_billing_daily`: the billing usage API's lines per day (the organisation's or
  enterprise's whole day, and each user's), money in USD as billed: gross, discount (included
  credits), net.
- `copilot_seats`: every seat ever seen, one row per grant (a re-grant restarts `created_at`);
  a seat the list no longer shows gets `removed_at`, never deleted.
- `person_logins`: operator-imported login → email (`usage-pipeline people import-logins`).
- `ai_usage_by_user_day` gains `consumption_cost_usd` (list value of a consumption signal,
  never billed) and Copilot's rows; `billed_cost_usd` for Copilot is the billing API's net.
"""

from collections.abc import Sequence

from alembic import op
from app.repositories.migrations import frozen_migration

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = (
    "user_initiated_interaction_count",
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_suggested_to_delete_sum",
    "loc_added_sum",
    "loc_deleted_sum",
)

USAGE_TABLE = f"""
    CREATE TABLE fact_copilot_daily_usage (
        account                  text          NOT NULL,
        usage_date               date          NOT NULL,
        source                   text          NOT NULL CHECK (source IN ('copilot_usage')),
        user_id                  bigint        NOT NULL,
        user_login               text          NULL,
        email                    text          NULL,
        attribution_method       text          NOT NULL,
        attribution_confidence   numeric(3, 2) NOT NULL,
        entity_id                text          NULL,
        {", ".join(f"{name} bigint NOT NULL CHECK ({name} >= 0)" for name in COUNTERS)},
        used_agent               boolean       NULL,
        used_chat                boolean       NULL,
        used_cli                 boolean       NULL,
        used_code_review_active  boolean       NULL,
        used_code_review_passive boolean       NULL,
        used_cloud_agent         boolean       NULL,
        cli_sessions             bigint        NULL,
        cli_requests             bigint        NULL,
        cli_prompts              bigint        NULL,
        cli_prompt_tokens        bigint        NULL,
        cli_output_tokens        bigint        NULL,
        ides                     text          NULL,
        ai_credits_used          numeric       NULL CHECK (ai_credits_used >= 0),
        cost_basis               text          NOT NULL CHECK (cost_basis = 'consumption'),
        ai_adoption_phase        smallint      NULL,
        ai_adoption_phase_version text         NULL,
        breakdowns               jsonb         NULL,
        run_id                   uuid          NULL,
        first_seen_at            timestamptz   NOT NULL DEFAULT now(),
        updated_at               timestamptz   NOT NULL DEFAULT now(),
        PRIMARY KEY (account, usage_date, user_id)
    )
"""

BILLING_TABLE = """
    CREATE TABLE fact_copilot_billing_daily (
        account                text          NOT NULL,
        usage_date             date          NOT NULL,
        source                 text          NOT NULL CHECK (source IN ('copilot_billing')),
        line_key               text          NOT NULL,
        user_login             text          NULL,
        user_id                bigint        NULL,
        email                  text          NULL,
        attribution_method     text          NOT NULL,
        attribution_confidence numeric(3, 2) NOT NULL,
        product                text          NOT NULL,
        sku                    text          NOT NULL,
        model                  text          NULL,
        unit_type              text          NULL,
        price_per_unit_usd     numeric       NOT NULL,
        gross_quantity         numeric       NOT NULL,
        gross_amount_usd       numeric       NOT NULL,
        discount_quantity      numeric       NOT NULL,
        discount_amount_usd    numeric       NOT NULL,
        net_quantity           numeric       NOT NULL,
        net_amount_usd         numeric       NOT NULL,
        cost_basis             text          NOT NULL CHECK (cost_basis = 'billed'),
        run_id                 uuid          NULL,
        first_seen_at          timestamptz   NOT NULL DEFAULT now(),
        updated_at             timestamptz   NOT NULL DEFAULT now(),
        PRIMARY KEY (account, usage_date, line_key)
    )
"""

SEATS_TABLE = """
    CREATE TABLE copilot_seats (
        account                   text          NOT NULL,
        user_id                   bigint        NOT NULL,
        created_at                timestamptz   NOT NULL,
        user_login                text          NOT NULL,
        email                     text          NULL,
        attribution_method        text          NOT NULL,
        attribution_confidence    numeric(3, 2) NOT NULL,
        plan_type                 text          NULL,
        organization              text          NULL,
        assigning_team            text          NULL,
        pending_cancellation_date date          NULL,
        last_activity_at          timestamptz   NULL,
        last_activity_editor      text          NULL,
        last_authenticated_at     timestamptz   NULL,
        first_seen_at             timestamptz   NOT NULL,
        last_seen_at              timestamptz   NOT NULL,
        removed_at                timestamptz   NULL,
        run_id                    uuid          NULL,
        PRIMARY KEY (account, user_id, created_at)
    )
"""

LOGINS_TABLE = """
    CREATE TABLE person_logins (
        service text NOT NULL,
        login   text NOT NULL,
        email   text NOT NULL,
        note    text NULL,
        PRIMARY KEY (service, login)
    )
"""

# Copilot per user and day: the report's usage beside the billing API's per-user lines (net is
# what is billed; the consumption signal is the report's credits at list price).
COPILOT_VIEW = """
    CREATE VIEW copilot_usage_by_user_day AS
    WITH billed AS (
        SELECT account, usage_date, user_id, min(user_login) AS user_login, min(email) AS email,
               sum(net_amount_usd) AS net_amount_usd, sum(gross_amount_usd) AS gross_amount_usd
          FROM fact_copilot_billing_daily
         WHERE user_id IS NOT NULL
         GROUP BY account, usage_date, user_id
    )
    SELECT coalesce(u.account, b.account) AS account,
           coalesce(u.usage_date, b.usage_date) AS usage_date,
           coalesce(u.user_id, b.user_id) AS user_id,
           coalesce(u.user_login, b.user_login) AS user_login,
           coalesce(u.email, b.email) AS user_email,
           b.net_amount_usd AS billed_cost_usd,
           b.gross_amount_usd AS billed_gross_usd,
           u.ai_credits_used,
           u.ai_credits_used * 0.01 AS consumption_cost_usd,
           coalesce(u.cli_prompt_tokens + u.cli_output_tokens, 0) AS tokens,
           coalesce(u.user_initiated_interaction_count, 0) AS interactions,
           coalesce(u.loc_added_sum, 0) AS lines_added,
           u.cli_sessions AS sessions
      FROM fact_copilot_daily_usage u
      FULL JOIN billed b
        ON b.account = u.account AND b.usage_date = u.usage_date AND b.user_id = u.user_id
"""

COPILOT_BRANCH = """
    UNION ALL
    SELECT account, usage_date, user_email, 'copilot'::text, 'copilot'::text,
           coalesce(billed_cost_usd, 0),
           0::numeric,
           tokens::numeric,
           interactions::numeric,
           lines_added,
           sessions,
           false,
           0::numeric,
           consumption_cost_usd
      FROM copilot_usage_by_user_day
"""

CROSS_TOOL_CHANGES = (
    (
        "coalesce(included_cost_usd, 0) AS included_cost_usd\n",
        "coalesce(included_cost_usd, 0) AS included_cost_usd,\n"
        "           0::numeric AS consumption_cost_usd\n",
    ),
    ("           0::numeric\n      FROM claude_usage_by_user_day", "           0::numeric,\n"
     "           0::numeric\n      FROM claude_usage_by_user_day"),
)  # fmt: skip


def _views() -> tuple[str, str, str]:
    """(the cross-tool view as 0014 made it, as it is now, the person view over it)."""
    before_module = frozen_migration("0014_accounts.py")
    before: str = before_module._cross_tool_view()
    after = before
    for old, new in CROSS_TOOL_CHANGES:
        assert old in after, old
        after = after.replace(old, new)
    return before, after + COPILOT_BRANCH, before_module.PERSON_VIEW


def upgrade() -> None:
    _, after, person = _views()
    for statement in (USAGE_TABLE, BILLING_TABLE, SEATS_TABLE, LOGINS_TABLE):
        op.execute(statement)
    op.execute("DROP VIEW ai_usage_by_person_day")
    op.execute("DROP VIEW ai_usage_by_user_day")
    op.execute(COPILOT_VIEW)
    op.execute(after)
    op.execute(person)


def downgrade() -> None:
    before, _, person = _views()
    op.execute("DROP VIEW ai_usage_by_person_day")
    op.execute("DROP VIEW ai_usage_by_user_day")
    op.execute("DROP VIEW copilot_usage_by_user_day")
    op.execute(before)
    op.execute(person)
    for table in ("person_logins", "copilot_seats", "fact_copilot_billing_daily",
                  "fact_copilot_daily_usage"):  # fmt: skip
        op.execute(f"DROP TABLE {table}")
    op.execute(
        "DELETE FROM fact_day_digests WHERE target_table IN"
        " ('fact_copilot_daily_usage', 'fact_copilot_billing_daily')"
    )
    op.execute("DELETE FROM coverage_days WHERE source IN ('copilot_usage', 'copilot_billing')")
