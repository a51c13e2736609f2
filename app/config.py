"""Service settings, read from environment variables (and an optional `.env`).

Every name here is a public contract documented in the README. Invalid values stop
start-up with one line naming the variable (see `load_settings`).
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from datetime import date
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
from pydantic_settings import NoDecode, SettingsConfigDict

from app import redaction
from app.access import API_TOKEN_NAME, NamedToken, TokenListError, parse_tokens, token_problem
from app.access import secret_problem as _secret_problem
from app.config_answers import AnswerSettings
from app.processing.attribution import DEFAULT_CONFIDENCES
from app.vocabulary import ApiScope

UPSTREAM_KEY_SETTINGS = (
    "cursor_api_key",
    "anthropic_admin_api_key",
    "anthropic_compliance_api_key",
    "anthropic_analytics_api_key",
    "github_token",
)
UPSTREAM_URL_SETTINGS = ("cursor_api_base_url", "anthropic_api_base_url", "github_api_base_url")
# What an account reads besides its key (an organisation): cleared with its keys per account.
UPSTREAM_SCOPE_SETTINGS = ("github_organization", "github_enterprise")
SCOPE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,98}[A-Za-z0-9])?$")


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


class Settings(AnswerSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # --- database -----------------------------------------------------------------
    database_url: SecretStr | None = None
    # Without DATABASE_URL, `serve` refuses to start unless this asks for the embedded server
    # (a pod would otherwise keep its data in its own /tmp); the demo and CLI set it themselves.
    embedded_database: bool = False
    data_dir: Path = Path("./.data")
    db_pool_min_size: int = Field(default=0, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=200)
    db_command_timeout_seconds: float = Field(default=300.0, gt=0)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)

    # --- upstreams ------------------------------------------------------------------
    # More Cursor teams and Anthropic organisations than the single-key settings below (which
    # stay the account `default`): a TOML file of accounts (app.accounts, docs/accounts.md).
    accounts_file: Path | None = None
    cursor_api_key: SecretStr | None = None
    cursor_api_base_url: HttpUrl = HttpUrl("https://api.cursor.com")
    cursor_requests_per_minute: float = Field(default=20.0, gt=0)
    cursor_events_requests_per_minute: float = Field(default=60.0, gt=0)
    # A member whose Σ charged events differs from /teams/spend by more than this: a warning.
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

    # GitHub Copilot: a token of an organisation's (or an enterprise's) owner or billing
    # manager, and which one it reads (docs/copilot.md lists the permissions each feed needs).
    github_token: SecretStr | None = None
    github_organization: str | None = None
    github_enterprise: str | None = None
    github_api_base_url: HttpUrl = HttpUrl("https://api.github.com")
    github_requests_per_minute: float = Field(default=60.0, gt=0)
    copilot_billing_enabled: bool = True

    # claude.ai sources: the Compliance activity feed (own key, falls back to the admin
    # key) and the Enterprise Analytics API (its own key, never the admin key).
    claude_ai_activity_enabled: bool = False
    anthropic_compliance_api_key: SecretStr | None = None
    anthropic_analytics_api_key: SecretStr | None = None

    # http:// upstreams other than loopback are refused (the key would cross the network in
    # clear) unless this allows them. Proxy variables of the environment are not read; a
    # proxy is set here, explicitly.
    allow_insecure_upstreams: bool = False
    upstream_proxy: SecretStr | None = None
    upstream_timeout_seconds: float = Field(default=60.0, gt=0)
    # Hard bounds on what an upstream can cost us: one request (send and whole body), one
    # source, one run; bytes of one page (decompressed) and of every page waiting on disk;
    # pages of one chain.
    upstream_request_deadline_seconds: float = Field(default=300.0, gt=0)
    upstream_source_deadline_seconds: float = Field(default=4 * 3600.0, gt=0)
    run_deadline_seconds: float = Field(default=6 * 3600.0, gt=0)
    upstream_max_page_bytes: int = Field(default=256 << 20, ge=1 << 16)
    upstream_max_pages_per_chain: int = Field(default=20_000, ge=1)
    spool_max_bytes: int = Field(default=2 << 30, ge=1 << 20)
    upstream_max_attempts: int = Field(default=6, ge=1, le=50)
    upstream_retry_base_seconds: float = Field(default=1.0, ge=0)
    upstream_max_retry_wait_seconds: float = Field(default=120.0, ge=0)
    upstream_source_time_budget_seconds: float = Field(default=1800.0, gt=0)
    upstream_max_concurrency: int = Field(default=4, ge=1, le=64)
    # The window the *_REQUESTS_PER_MINUTE limits are counted over. 60 for real upstreams;
    # the benchmark compresses time (limits ×N over 60/N seconds) against its simulator.
    upstream_rate_window_seconds: float = Field(default=60.0, gt=0, le=60)

    # --- API, schedule and runs -----------------------------------------------------------
    # API_TOKEN: one token with every scope. API_TOKENS / API_TOKENS_FILE: named, scoped
    # tokens (app.access). Reads need a `read` token unless API_READS_OPEN says otherwise.
    api_token: SecretStr | None = None
    api_tokens: SecretStr | None = None
    api_tokens_file: Path | None = None
    api_reads_open: bool = False
    max_queued_runs_per_token: int = Field(default=5, ge=1, le=1000)
    # No window may start before this day: none of these APIs has data from before 2023.
    earliest_day: date = date(2023, 1, 1)
    # /metrics answers from gauges refreshed this often in the background, not per scrape.
    metrics_refresh_seconds: float = Field(default=30.0, ge=1, le=3600)
    # Serve /metrics (without a token) on this port too, for a scrape the NetworkPolicy allows.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    schedule_cron: str = "30 2 * * *"
    # The accounts the schedule heals (comma list); empty: every configured account.
    schedule_accounts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    schedule_timezone: str = "UTC"
    scheduler_enabled: bool = True
    lookback_days: int = Field(default=3, ge=1, le=366)
    max_window_days: int = Field(default=366, ge=1, le=3660)
    schedule_misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    worker_process: bool = True
    # Worker processes per replica, each claiming (account, source) parts of runs; 0: one per
    # CPU core.
    worker_processes: int = Field(default=0, ge=0, le=64)
    worker_max_concurrent_parts: int = Field(default=4, ge=1, le=64)
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

    @field_validator("claude_code_workspace_ids", "schedule_accounts", mode="before")
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

    @field_validator(*UPSTREAM_SCOPE_SETTINGS)
    @classmethod
    def _github_slug(cls, value: str | None) -> str | None:
        if value is not None and not SCOPE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a GitHub organisation or enterprise name")
        return value

    @field_validator(
        *UPSTREAM_KEY_SETTINGS, *UPSTREAM_SCOPE_SETTINGS, "upstream_proxy", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value == "" else value

    @field_validator(*UPSTREAM_KEY_SETTINGS)
    @classmethod
    def _clean_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (problem := _secret_problem(value.get_secret_value())):
            raise ValueError(problem)
        return value

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value == "" else value

    @field_validator("api_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (problem := token_problem(value.get_secret_value())):
            raise ValueError(problem)
        return value

    @field_validator("api_tokens")
    @classmethod
    def _token_list(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            try:
                parse_tokens(value.get_secret_value())
            except TokenListError as exc:
                raise ValueError(str(exc)) from None
            return value
        return None

    @field_validator("api_tokens_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                parse_tokens(value.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ValueError(f"cannot read {value} ({exc.strerror})") from None
            except TokenListError as exc:
                raise ValueError(f"{value}: {exc}") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        dsn = value.get_secret_value().strip()
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// DSN")
        return SecretStr(dsn)

    @field_validator("schedule_cron", "digest_cron")
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

    @model_validator(mode="after")
    def _github_scope(self) -> Settings:
        scopes = (self.github_organization, self.github_enterprise)
        if self.github_token is not None and scopes.count(None) != 1:
            raise ValueError(
                "GITHUB_TOKEN reads one GitHub organisation or enterprise: set exactly one of"
                " GITHUB_ORGANIZATION and GITHUB_ENTERPRISE"
            )
        return self

    @model_validator(mode="after")
    def _secure_upstreams(self) -> Settings:
        if self.allow_insecure_upstreams:
            return self
        for name in UPSTREAM_URL_SETTINGS:
            url: HttpUrl = getattr(self, name)
            if url.scheme != "https" and not is_loopback(url.host or ""):
                raise ValueError(
                    f"{name.upper()} must be https:// (the key would travel in clear to"
                    f" {url.host}); ALLOW_INSECURE_UPSTREAMS=true allows it"
                )
        return self

    @model_validator(mode="after")
    def _remember_secrets(self) -> Settings:
        """Every secret this process is configured with, masked wherever text is made. (A copy
        or an unpickled Settings runs no validator: `configure_logging` remembers them too.)"""
        redaction.remember(self.secret_values())
        return self

    def secret_values(self) -> list[str | None]:
        secrets = [self._secret(name) for name in (*UPSTREAM_KEY_SETTINGS, "api_token")]
        secrets += [token.secret.get_secret_value() for token in self.listed_tokens()]
        if self.database_url is not None:
            dsn = self.database_url.get_secret_value()
            password = dsn.partition("://")[2].rpartition("@")[0].partition(":")[2]
            secrets += [dsn, password if len(password) >= 4 else None]
        if self.upstream_proxy is not None:
            secrets.append(self.upstream_proxy.get_secret_value())
        secrets += self.answer_secrets()
        return secrets

    def _secret(self, name: str) -> str | None:
        value: SecretStr | None = getattr(self, name)
        return None if value is None else value.get_secret_value()

    def listed_tokens(self) -> list[NamedToken]:
        """API_TOKEN (every scope) and API_TOKENS; API_TOKENS_FILE is read by the API."""
        tokens = []
        if self.api_token is not None:
            tokens.append(NamedToken(API_TOKEN_NAME, ApiScope.ADMIN, self.api_token))
        if self.api_tokens is not None:
            tokens += parse_tokens(self.api_tokens.get_secret_value())
        return tokens

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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
