"""Initial schema: both fact tables, run tracking, key owners, known workspaces.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The grain of a Claude fact row, as one deterministic key. PostgreSQL treats NULLs as
# distinct in plain unique constraints; quote_nullable() renders NULL as the bare word NULL
# and every value quoted, so NULL dimensions take part in uniqueness and never collide with
# the string 'NULL'. Platform and attribution are derived values, not part of the grain: a
# re-categorised or re-attributed row is updated in place, never duplicated.
CLAUDE_GRAIN_COLUMNS = (
    "source",
    "actor_type",
    "actor_name",
    "api_key_id",
    "workspace_id",
    "model",
    "customer_type",
    "terminal_type",
    "is_remote::text",
    "service_tier",
    "context_window",
    "inference_geo",
    "cost_description",
    "cost_type",
    "token_type",
)
CLAUDE_GRAIN_EXPRESSION = (
    "md5("
    + " || '|' || ".join(f"quote_nullable({column})" for column in CLAUDE_GRAIN_COLUMNS)
    + ")::uuid"
)

CURSOR_COUNTERS = (
    "total_lines_added",
    "total_lines_deleted",
    "accepted_lines_added",
    "accepted_lines_deleted",
    "total_applies",
    "total_accepts",
    "total_rejects",
    "total_tabs_shown",
    "total_tabs_accepted",
    "composer_requests",
    "chat_requests",
    "agent_requests",
    "cmdk_usages",
    "subscription_included_reqs",
    "api_key_reqs",
    "usage_based_reqs",
    "bugbot_usages",
)

ATTRIBUTION_COLUMNS = """
    attribution_method     text NOT NULL,
    attribution_confidence numeric(3,2) NOT NULL
        CHECK (attribution_confidence >= 0 AND attribution_confidence <= 1),
    run_id                 uuid NULL,
    first_seen_at          timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
"""


def upgrade() -> None:
    counters = ",\n".join(f"    {name} bigint NOT NULL DEFAULT 0" for name in CURSOR_COUNTERS)
    op.execute(
        f"""
        CREATE TABLE fact_cursor_daily_usage (
            usage_date               date NOT NULL,
            email                    text NOT NULL CHECK (email = lower(btrim(email)) AND email <> ''),
            cursor_user_id           text NULL,
            is_active                boolean NOT NULL DEFAULT false,
        {counters},
            most_used_model          text NULL,
            apply_most_used_extension text NULL,
            tab_most_used_extension  text NULL,
            client_version           text NULL,
            {ATTRIBUTION_COLUMNS},
            PRIMARY KEY (usage_date, email)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_fact_cursor_email_date ON fact_cursor_daily_usage (email, usage_date)"
    )

    op.execute(
        f"""
        CREATE TABLE fact_claude_daily_usage (
            usage_date                     date NOT NULL,
            platform                       text NOT NULL
                CHECK (platform IN ('claude_code', 'claude_api', 'claude_ai')),
            source                         text NOT NULL
                CHECK (source IN ('claude_code_analytics', 'usage_report', 'cost_report',
                                  'claude_ai_activity', 'claude_ai_analytics')),
            user_email                     text NULL CHECK (user_email = lower(btrim(user_email))),
            actor_type                     text NULL,
            actor_name                     text NULL,
            api_key_id                     text NULL,
            workspace_id                   text NULL,
            model                          text NULL,
            customer_type                  text NULL,
            terminal_type                  text NULL,
            is_remote                      boolean NULL,
            service_tier                   text NULL,
            context_window                 text NULL,
            inference_geo                  text NULL,
            cost_description               text NULL,
            cost_type                      text NULL,
            token_type                     text NULL,
            uncached_input_tokens          bigint NOT NULL DEFAULT 0,
            cache_creation_input_tokens    bigint NOT NULL DEFAULT 0,
            cache_creation_5m_input_tokens bigint NOT NULL DEFAULT 0,
            cache_creation_1h_input_tokens bigint NOT NULL DEFAULT 0,
            cache_read_input_tokens        bigint NOT NULL DEFAULT 0,
            output_tokens                  bigint NOT NULL DEFAULT 0,
            web_search_requests            bigint NOT NULL DEFAULT 0,
            requests                       bigint NULL,
            cost_usd                       numeric NULL,
            cost_kind                      text NULL
                CHECK (cost_kind IN ('reported', 'estimated', 'allocated')),
            sessions                       bigint NULL,
            lines_added                    bigint NULL,
            lines_removed                  bigint NULL,
            commits                        bigint NULL,
            pull_requests                  bigint NULL,
            tool_accepted                  bigint NULL,
            tool_rejected                  bigint NULL,
            activity_count                 bigint NULL,
            chats_created                  bigint NULL,
            projects_created               bigint NULL,
            files_uploaded                 bigint NULL,
            {ATTRIBUTION_COLUMNS},
            grain_key                      uuid GENERATED ALWAYS AS ({CLAUDE_GRAIN_EXPRESSION}) STORED,
            PRIMARY KEY (usage_date, grain_key),
            CHECK ((cost_usd IS NULL) = (cost_kind IS NULL))
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_fact_claude_email_date ON fact_claude_daily_usage (user_email, usage_date)"
    )
    op.execute(
        "CREATE INDEX ix_fact_claude_platform_date ON fact_claude_daily_usage (platform, usage_date)"
    )
    op.execute(
        "CREATE INDEX ix_fact_claude_source_date ON fact_claude_daily_usage (source, usage_date)"
    )

    op.execute(
        """
        CREATE TABLE ingestion_runs (
            id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            status              text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'partial', 'failed',
                                  'cancelled', 'crashed')),
            trigger             text NOT NULL CHECK (trigger IN ('api', 'schedule', 'cli')),
            window_start        date NOT NULL,
            window_end          date NOT NULL,
            sources             text[] NOT NULL,
            idempotency_key     text NULL,
            request_fingerprint text NULL,
            schedule_job        text NULL,
            scheduled_for       timestamptz NULL,
            worker_id           text NULL,
            created_at          timestamptz NOT NULL DEFAULT now(),
            started_at          timestamptz NULL,
            finished_at         timestamptz NULL,
            heartbeat_at        timestamptz NULL,
            cancel_requested_at timestamptz NULL,
            status_reason       text NULL,
            CHECK (window_end >= window_start),
            UNIQUE (schedule_job, scheduled_for)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_ingestion_runs_idempotency_key ON ingestion_runs (idempotency_key)"
        " WHERE idempotency_key IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX ix_ingestion_runs_created ON ingestion_runs (created_at DESC, id DESC)"
    )
    op.execute(
        "CREATE INDEX ix_ingestion_runs_active ON ingestion_runs (status)"
        " WHERE status IN ('queued', 'running')"
    )

    op.execute(
        """
        CREATE TABLE ingestion_run_sources (
            run_id                  uuid NOT NULL REFERENCES ingestion_runs (id) ON DELETE CASCADE,
            source                  text NOT NULL,
            status                  text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
            target_table            text NOT NULL,
            days_total              integer NOT NULL DEFAULT 0,
            days_done               integer NOT NULL DEFAULT 0,
            pages                   integer NOT NULL DEFAULT 0,
            rows_fetched            bigint NOT NULL DEFAULT 0,
            rows_inserted           bigint NOT NULL DEFAULT 0,
            rows_updated            bigint NOT NULL DEFAULT 0,
            rows_unchanged          bigint NOT NULL DEFAULT 0,
            rows_deleted            bigint NOT NULL DEFAULT 0,
            rows_skipped            bigint NOT NULL DEFAULT 0,
            retries                 integer NOT NULL DEFAULT 0,
            rate_limit_waits        integer NOT NULL DEFAULT 0,
            rate_limit_wait_seconds double precision NOT NULL DEFAULT 0,
            last_error              text NULL,
            upstream_status         integer NULL,
            started_at              timestamptz NULL,
            finished_at             timestamptz NULL,
            updated_at              timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, source)
        )
        """
    )

    op.execute(
        """
        CREATE TABLE api_key_owners (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            api_key_id  text NULL,
            key_name    text NULL,
            owner_email text NOT NULL CHECK (owner_email = lower(btrim(owner_email))
                                             AND owner_email LIKE '%_@_%'),
            note        text NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            CHECK (api_key_id IS NOT NULL OR key_name IS NOT NULL)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_api_key_owners_key_id ON api_key_owners (api_key_id)"
        " WHERE api_key_id IS NOT NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_api_key_owners_key_name ON api_key_owners (key_name)"
        " WHERE api_key_id IS NULL"
    )

    op.execute(
        """
        CREATE TABLE known_workspaces (
            workspace_id          text PRIMARY KEY,
            name                  text NOT NULL,
            archived_at           timestamptz NULL,
            claude_code_since     timestamptz NULL,
            first_seen_at         timestamptz NOT NULL DEFAULT now(),
            updated_at            timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    for table in (
        "known_workspaces",
        "api_key_owners",
        "ingestion_run_sources",
        "ingestion_runs",
        "fact_claude_daily_usage",
        "fact_cursor_daily_usage",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
