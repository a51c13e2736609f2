"""docs/configuration.md, generated from `Settings`: every field in declaration order, its
environment variable, its default as `Settings` has it, and what it means (`MEANINGS`, kept
here beside the settings so the page cannot drift: a test compares the page with this render).

`python -m app.settings_docs > docs/configuration.md` (or `make docs`) writes it.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from enum import Enum
from pathlib import PurePath

from pydantic import AnyUrl, BaseModel, SecretStr
from pydantic_core import PydanticUndefined, Url

from app.config import Settings
from app.config_answers import AnswerSettings

HEADER = """# Configuration

Environment variables (or a `.env` file in the working directory). An invalid value stops
start-up with one line naming the variable, e.g.
`usage-pipeline: invalid setting LOOKBACK_DAYS: Input should be greater than or equal to 1`.
Secrets are never logged, returned by the API or stored in run errors.

This page is generated from `app/config.py` by `make docs`; a test keeps the two equal.

| Variable | Default | Meaning |
|---|---|---|
"""

MEANINGS: dict[str, str] = {
    "database_url": (
        "PostgreSQL DSN (`postgresql://…`). **Unset → embedded PostgreSQL** in `DATA_DIR`, "
        "started on demand, stopped with the last process using it; data survives restarts."
    ),
    "embedded_database": (
        "Let `serve` start without `DATABASE_URL`, on the embedded PostgreSQL in `DATA_DIR` "
        "(try-outs only)."
    ),
    "data_dir": ("Where the embedded PostgreSQL keeps its data (`DATA_DIR/pg`)."),
    "db_pool_min_size": ("Connections the asyncpg pool of each process keeps open."),
    "db_pool_max_size": ("Most connections the asyncpg pool of each process opens."),
    "db_command_timeout_seconds": ("Upper bound for one SQL command."),
    "db_acquire_timeout_seconds": (
        "How long an API request waits for a pooled connection before answering 503."
    ),
    "cursor_api_key": ("Cursor Admin API key (secret). Enables the `cursor` source."),
    "cursor_api_base_url": (
        "The Cursor Admin API's address (the simulator's in the demo and the tests)."
    ),
    "cursor_requests_per_minute": (
        "Client-side rate limit (Cursor's documented limit). Every limit is a sliding window: "
        "never more than N requests in any 60 seconds, which keeps within a limit counted per "
        "calendar minute (as Cursor's is) and within a continuously refilled bucket (as "
        "Anthropic's is), and sends a request that missed its turn as soon as the window "
        "allows."
    ),
    "cursor_events_requests_per_minute": (
        "Client-side rate limit of `POST /teams/filtered-usage-events` (its own documented limit)."
    ),
    "cursor_spend_tolerance_usd": (
        "A member whose charged usage events this billing cycle differ from `/teams/spend` by "
        "more than this is a warning of the `cursor_spend` source (events lag up to an hour)."
    ),
    "cursor_page_size": (
        "Users per daily-usage page (at most; 1000 is the size Cursor's own example uses)."
    ),
    "cursor_page_rows": (
        "Rows (users × days) a daily-usage page may carry: with the default, a 30-day page "
        "holds 1,000 users (the fewest requests). A large page is written to a temporary file "
        "as it arrives (`TMPDIR`; 17 MB for 30,000 rows) and validated 2,000 rows at a time "
        "from there, so it costs one part's rows in memory, not 100 MB of parsed rows."
    ),
    "anthropic_admin_api_key": (
        "Anthropic Admin API key (secret). Enables `claude_code`, `claude_usage`, `claude_cost`."
    ),
    "anthropic_api_base_url": (
        "The Anthropic APIs' address: Admin API, Compliance feed, Enterprise Analytics."
    ),
    "anthropic_requests_per_minute": ("Client-side rate limit for the Admin API."),
    "anthropic_report_days_per_page": (
        "Daily buckets per `usage_report/messages` and `cost_report` page. 31, the documented "
        "maximum, makes a 30-day report one request where the upstream fits it in one page; how"
        " many results a page holds is the upstream's choice, so lower this if one page of your"
        " organisation's days is too large to hold."
    ),
    "anthropic_compliance_requests_per_minute": (
        "Client-side rate limit for the Compliance activity feed (its documented limit)."
    ),
    "anthropic_analytics_requests_per_minute": (
        "Client-side rate limit for Enterprise Analytics (its documented limit)."
    ),
    "claude_code_workspace_ids": (
        "Comma list of workspace ids that are Claude Code workspaces, in addition to the ones "
        'named "Claude Code".'
    ),
    "claude_ai_activity_enabled": (
        "Read the Compliance activity feed for the `claude_ai` platform."
    ),
    "anthropic_compliance_api_key": (
        "Key for the activity feed (secret); falls back to the admin key."
    ),
    "anthropic_analytics_api_key": (
        "Enterprise Analytics key (secret): per-person tokens and cost of every product (chat, "
        "Claude Code seats, cowork, office agent, Chrome, Slack, design). Alone, it is a "
        "complete configuration for an Enterprise org without Console."
    ),
    "github_token": (
        "GitHub token of an organisation owner (or enterprise owner / billing manager) "
        "(secret). With `GITHUB_ORGANIZATION` or `GITHUB_ENTERPRISE`, enables `copilot_usage` "
        "and `copilot_billing`; the permissions each needs: docs/copilot.md."
    ),
    "github_organization": ("The GitHub organisation whose Copilot the token reads."),
    "github_enterprise": (
        "The GitHub enterprise (slug) whose Copilot the token reads; exactly one of this and "
        "`GITHUB_ORGANIZATION`."
    ),
    "github_api_base_url": (
        "GitHub's REST and GraphQL API (`https://api.<subdomain>.ghe.com` with data residency)."
    ),
    "github_requests_per_minute": ("Requests a minute to GitHub (it allows 5,000 an hour)."),
    "copilot_billing_enabled": (
        "Read Copilot's AI-credit billing lines (`copilot_billing`): per day, and per user "
        "who consumed credits that day."
    ),
    "webhook_urls": (
        "Where budget alerts and the weekly digest go (secret): a JSON list of "
        '`{"name": "finance", "format": "slack"|"json", "url": "https://…"}`. Deliveries are '
        "listed by name; a URL is never shown."
    ),
    "webhook_timeout_seconds": ("One delivery attempt's time limit."),
    "alert_delivery_attempts": (
        "Attempts per (alert, target) before it is marked failed (waits double from "
        "`ALERT_RETRY_BASE_SECONDS`)."
    ),
    "alert_retry_base_seconds": ("The wait before a failed delivery's second attempt."),
    "seat_prices_usd": (
        "Monthly seat prices by tool or `tool:plan` (JSON), for what reclaiming idle seats "
        "saves; a tool without one shows no saving (unknown, not 0)."
    ),
    "idle_seat_days": (
        "A seat with no active day in this many days is idle (new seats: not before)."
    ),
    "light_seat_days": ("A seat active on at most this many days of the window is light."),
    "digest_cron": (
        "When the weekly digest is sent (crontab, in `SCHEDULE_TIMEZONE`): the week before."
    ),
    "allow_insecure_upstreams": ("Allow `http://` upstream URLs other than loopback."),
    "upstream_proxy": (
        "An HTTP(S) proxy for the upstreams (secret). Proxy variables of the environment are "
        "not read."
    ),
    "upstream_timeout_seconds": ("Per-request read timeout (connect: 10 s)."),
    "upstream_request_deadline_seconds": (
        "One request, sending it and reading its whole body; a body trickled slower fails and "
        "is retried."
    ),
    "upstream_source_deadline_seconds": ("One source of one run, everything included."),
    "run_deadline_seconds": ("One run, every source included."),
    "upstream_max_page_bytes": ("One page's body, decompressed (a gzip bomb stops here)."),
    "upstream_max_pages_per_chain": (
        'Pages one chain may take before its source fails (an upstream that always says "more").'
    ),
    "spool_max_bytes": ("Page bodies waiting on disk in `DATA_DIR/spool`, per process."),
    "upstream_max_attempts": (
        "Attempts per request on 429 / 5xx / 529 / timeouts / resets / unparseable bodies."
    ),
    "upstream_retry_base_seconds": ("Full-jitter exponential backoff base."),
    "upstream_max_retry_wait_seconds": ("Cap for one wait, including `Retry-After`."),
    "upstream_source_time_budget_seconds": (
        "Retry waits of one source: one that would wait beyond this fails clearly instead."
    ),
    "upstream_max_concurrency": ("Requests in flight per upstream."),
    "upstream_rate_window_seconds": (
        "The window the `*_REQUESTS_PER_MINUTE` limits are counted over. Leave it at 60; the "
        "benchmark compresses time against its simulator (the documented limits ×N over 60/N "
        "seconds)."
    ),
    "api_token": (
        "One bearer token with every scope (secret, named `api_token` in runs), at least 32 "
        "printable ASCII characters; placeholders are refused."
    ),
    "api_tokens": (
        'Named, scoped tokens (secret): a JSON list of `{"name", "scopes", "token"}`, scopes '
        "`read` ⊂ `trigger` ⊂ `admin` ([security.md](security.md))."
    ),
    "api_tokens_file": (
        "The same JSON in a file, read again when it changes: rotate tokens without a restart."
    ),
    "api_reads_open": (
        "`true` lets GETs through without a token (the old behaviour); writes always need one."
    ),
    "max_queued_runs_per_token": (
        "Queued runs one token may have at once (admin tokens: no cap); past it, 429."
    ),
    "earliest_day": ("No run window may start before this day."),
    "metrics_refresh_seconds": (
        "How often the coverage and pool gauges of `/metrics` are refreshed (a scrape never "
        "queries)."
    ),
    "metrics_port": (
        "Also serve `/metrics` on this port, without a token (for Prometheus behind a "
        "NetworkPolicy)."
    ),
    "schedule_cron": ("Daily schedule (5-field crontab)."),
    "schedule_accounts": (
        "The accounts the schedule heals (comma list); empty: every configured account."
    ),
    "schedule_timezone": ("IANA time zone of the schedule."),
    "scheduler_enabled": ("Run the in-process daily schedule."),
    "lookback_days": (
        "Default window: the last N complete UTC days (upstreams revise recent days)."
    ),
    "max_window_days": ("Longest window a run may ask for."),
    "schedule_misfire_grace_seconds": (
        "How late a slot may still fire (a blocked loop must not skip a day)."
    ),
    "worker_process": (
        "Execute runs in a child process at lower CPU priority, so a long backfill never slows "
        "the API or its probes. `false` runs them on the API's event loop."
    ),
    "worker_max_concurrent_parts": (
        "Parts of runs (an account's sources) one worker process executes at once."
    ),
    "worker_processes": (
        "Worker processes per replica, each claiming parts of runs; 0: one per CPU core."
    ),
    "accounts_file": (
        "A TOML file of more Cursor teams and Anthropic organisations (docs/accounts.md)."
    ),
    "worker_poll_seconds": (
        "How often an idle worker looks for queued runs (a POST on the same replica wakes it at"
        " once)."
    ),
    "run_heartbeat_timeout_seconds": (
        "A running run silent this long is marked `crashed` by any replica."
    ),
    "shutdown_deadline_seconds": (
        "On SIGTERM, how long in-flight runs get to stop cleanly before they are cancelled. "
        "Keep below the pod's grace period."
    ),
    "idempotency_key_ttl_hours": ("How long an `Idempotency-Key` is remembered (at least 24)."),
    "allow_empty_day_replacement": (
        "The shrink guard: a day that comes back empty while other days of the same answer have"
        " rows is not applied (its rows stay; the source warns, naming the day). `true` applies"
        " such days deliberately."
    ),
    "backfill_horizon_days": (
        "How far back each slot heals: every source's missing, failed and provisional days of "
        "the last N complete days are re-read ([Is my data "
        "complete?](runs-and-coverage.md#is-my-data-complete))."
    ),
    "heal_max_days_per_run": (
        "At most this many days per source in one heal run, oldest first, so a long backlog is "
        "worked off slot by slot."
    ),
    "revision_horizon_days": (
        "JSON overrides of how long an upstream may still revise a day, per source, e.g. "
        '`{"claude_ai": 30, "cursor": 3}`. Defaults: `cursor` 3, '
        "`claude_code`/`claude_usage`/`claude_cost` 2, `claude_ai` 30 (from the upstreams' "
        "documents). A day fetched after its horizon is `final`."
    ),
    "log_level": ("`DEBUG`, `INFO`, `WARNING`, `ERROR`."),
    "log_format": (
        "`json` (one object per line) or `console`; unset: console on a terminal, JSON otherwise."
    ),
    "attribution_confidences": (
        'JSON object overriding method confidences, e.g. `{"key_creator": 0.7}`.'
    ),
}


def _default(field_name: str) -> str:
    field = Settings.model_fields[field_name]
    value: object = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None or isinstance(value, SecretStr):
        return "*(unset)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, (Url, AnyUrl)):
        return f"`{str(value).rstrip('/')}`"
    if isinstance(value, (list, dict)) and not value:
        return "`[]`" if isinstance(value, list) else "`{}`"
    if isinstance(value, dict):  # e.g. prices: JSON as the variable takes it
        return "`{" + ", ".join(f'"{key}": {item}' for key, item in value.items()) + "}`"
    if isinstance(value, (Enum, Decimal, PurePath, BaseModel, int, float, str)):
        return f"`{value}`"
    return f"`{value!s}`"


def render() -> str:
    # The answers' settings (a base class of Settings) after the service's own.
    answers = list(AnswerSettings.model_fields)
    names = [name for name in Settings.model_fields if name not in answers] + answers
    rows = [f"| `{name.upper()}` | {_default(name)} | {MEANINGS[name]} |" for name in names]
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
