"""Service settings, read from environment variables (and an optional `.env`).

Every name here is a public contract documented in the README. Invalid values stop
start-up with one line naming the variable (see `load_settings`).
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_CONFIDENCES: dict[str, Decimal] = {
    "direct_email": Decimal("1.00"),
    "account_id": Decimal("1.00"),
    "key_owner_mapping": Decimal("0.95"),
    "key_creator": Decimal("0.80"),
    "key_name_match": Decimal("0.70"),
    "service_account": Decimal("1.00"),
    "unattributed": Decimal("0.00"),
}


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # --- database -----------------------------------------------------------------
    database_url: SecretStr | None = None
    data_dir: Path = Path("./.data")
    db_pool_min_size: int = Field(default=0, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=200)
    db_command_timeout_seconds: float = Field(default=300.0, gt=0)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)

    # --- upstreams ------------------------------------------------------------------
    cursor_api_key: SecretStr | None = None
    cursor_api_base_url: HttpUrl = HttpUrl("https://api.cursor.com")
    cursor_requests_per_minute: float = Field(default=20.0, gt=0)
    cursor_events_requests_per_minute: float = Field(default=60.0, gt=0)
    # Spend reconciliation: a member whose Σ charged events differs from /teams/spend by more
    # than this (after events' hour of lag) is a warning.
    cursor_spend_tolerance_usd: Decimal = Field(default=Decimal("1.00"), ge=0)
    cursor_page_size: int = Field(default=1_000, ge=1, le=10_000)
    cursor_page_rows: int = Field(default=30_000, ge=1, le=1_000_000)

    anthropic_admin_api_key: SecretStr | None = None
    anthropic_api_base_url: HttpUrl = HttpUrl("https://api.anthropic.com")
    anthropic_requests_per_minute: float = Field(default=100.0, gt=0)
    # Daily buckets per usage/cost report page: 31 (the documented maximum) is the fewest
    # requests; lower it if one page of an organisation's days is too large to hold.
    anthropic_report_days_per_page: int = Field(default=31, ge=1, le=31)
    # The documented per-organisation limits of the Compliance and Enterprise Analytics APIs.
    anthropic_compliance_requests_per_minute: float = Field(default=600.0, gt=0)
    anthropic_analytics_requests_per_minute: float = Field(default=60.0, gt=0)
    claude_code_workspace_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # claude.ai sources: the Compliance activity feed (own key, falls back to the admin
    # key) and the Enterprise Analytics API (its own key, never the admin key).
    claude_ai_activity_enabled: bool = False
    anthropic_compliance_api_key: SecretStr | None = None
    anthropic_analytics_api_key: SecretStr | None = None

    upstream_timeout_seconds: float = Field(default=60.0, gt=0)
    upstream_max_attempts: int = Field(default=6, ge=1, le=50)
    upstream_retry_base_seconds: float = Field(default=1.0, ge=0)
    upstream_max_retry_wait_seconds: float = Field(default=120.0, ge=0)
    upstream_source_time_budget_seconds: float = Field(default=1800.0, gt=0)
    upstream_max_concurrency: int = Field(default=4, ge=1, le=64)
    # The window the *_REQUESTS_PER_MINUTE limits are counted over. 60 for real upstreams;
    # the benchmark compresses time (limits ×N over 60/N seconds) against its simulator.
    upstream_rate_window_seconds: float = Field(default=60.0, gt=0, le=60)

    # --- API, schedule and runs -----------------------------------------------------------
    api_token: SecretStr | None = None
    schedule_cron: str = "30 2 * * *"
    schedule_timezone: str = "UTC"
    scheduler_enabled: bool = True
    lookback_days: int = Field(default=3, ge=1, le=366)
    max_window_days: int = Field(default=366, ge=1, le=3660)
    schedule_misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    worker_process: bool = True
    worker_max_concurrent_runs: int = Field(default=1, ge=1, le=16)
    worker_poll_seconds: float = Field(default=2.0, gt=0, le=300)
    run_heartbeat_timeout_seconds: float = Field(default=60.0, ge=2)
    shutdown_deadline_seconds: float = Field(default=20.0, ge=0)
    idempotency_key_ttl_hours: int = Field(default=24, ge=24)
    # Shrink guard: a day that comes back empty while other days of the same answer have rows
    # is not applied (its rows stay, the source warns) unless this says to.
    allow_empty_day_replacement: bool = False
    # Coverage: how far back the schedule heals missing, failed and provisional days, how many
    # days one source re-reads in one run at most (oldest first), and per-source overrides of
    # how long an upstream may still revise a day (defaults: each source's, from the reference).
    backfill_horizon_days: int = Field(default=90, ge=1, le=3660)
    heal_max_days_per_run: int = Field(default=90, ge=1, le=3660)
    revision_horizon_days: dict[str, int] = Field(default_factory=dict)

    # --- logging --------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] | None = None  # None: console on a TTY, else JSON

    # --- attribution ------------------------------------------------------------------
    attribution_confidences: dict[str, Decimal] = Field(default_factory=dict)

    @field_validator("claude_code_workspace_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgres_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        dsn = value.get_secret_value().strip()
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// DSN")
        return SecretStr(dsn)

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a 5-field crontab expression ({exc})") from None
        return value

    @field_validator("schedule_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("revision_horizon_days")
    @classmethod
    def _horizons(cls, value: dict[str, int]) -> dict[str, int]:
        for source, days in value.items():
            if not 0 <= days <= 366:
                raise ValueError(f"horizon for {source!r} must be 0..366 days")
        return value

    @field_validator("attribution_confidences")
    @classmethod
    def _confidences(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for method, confidence in value.items():
            if method not in DEFAULT_CONFIDENCES:
                known = ", ".join(DEFAULT_CONFIDENCES)
                raise ValueError(f"unknown attribution method {method!r} (known: {known})")
            if not Decimal(0) <= confidence <= Decimal(1):
                raise ValueError(f"confidence for {method!r} must be between 0 and 1")
        return value

    @model_validator(mode="after")
    def _pool_sizes(self) -> Settings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        return self

    # --- derived ----------------------------------------------------------------------------
    @cached_property
    def confidences(self) -> dict[str, Decimal]:
        return {**DEFAULT_CONFIDENCES, **self.attribution_confidences}

    @property
    def compliance_key(self) -> SecretStr | None:
        """Key for the Compliance activity feed: its own, else the admin key."""
        if not self.claude_ai_activity_enabled:
            return None
        return self.anthropic_compliance_api_key or self.anthropic_admin_api_key


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    loc = first.get("loc")
    if not loc:
        return f"invalid settings: {message}"
    return f"invalid setting {str(loc[0]).upper()}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation error into a one-line `SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
