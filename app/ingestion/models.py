"""Typed upstream records (pydantic): pages as models, their rows as slotted dataclasses.

Unknown fields are ignored (upstreams add fields over time); documented-optional fields are
optional; required fields are required, so a page missing them fails loudly instead of
producing silent zeros. Field names follow the upstream JSON.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

T = TypeVar("T")


class Upstream(BaseModel):
    """A page, an envelope or a short list's item: validated once, a few per page."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# Rows, of which a page holds thousands, are slotted frozen dataclasses validated by pydantic
# with the same rules: a page of 10,000 messages-usage results takes 3.7 MB instead of 24 MB as
# BaseModels (no per-instance `__dict__` or fields-set), and validates in about 60 % of the time.
ROW_CONFIG = ConfigDict(extra="ignore")


def _null_is_zero(value: object) -> object:
    """A count sent as JSON null means none. (A count that is *missing* still fails.)"""
    return 0 if value is None else value


def _null_is_empty(value: object) -> object:
    """A nested object sent as JSON null means an empty one (its own defaults apply)."""
    return {} if value is None else value


Count = Annotated[int, BeforeValidator(_null_is_zero)]


def _to_date(value: object) -> object:
    """RFC 3339 timestamp or bare YYYY-MM-DD (docs drifted between the two) → date."""
    if isinstance(value, str) and "T" in value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC).date() if parsed.tzinfo else parsed.date()
    return value


UtcDate = Annotated[dt.date, BeforeValidator(_to_date)]


def _assume_utc(value: datetime) -> datetime:
    """A timestamp without an offset is UTC — said explicitly, never the host's time zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]


# --- Cursor ---------------------------------------------------------------------------------


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CursorDailyRow:
    email: str | None  # null for a removed member: the row is skipped (and counted), not the page
    date: int | None = None  # epoch ms of the UTC day (older docs: the only day field)
    day: dt.date | None = None
    userId: int | str | None = None
    isActive: bool | None = None
    totalLinesAdded: Count
    totalLinesDeleted: Count
    acceptedLinesAdded: Count
    acceptedLinesDeleted: Count
    totalApplies: Count
    totalAccepts: Count
    totalRejects: Count
    totalTabsShown: Count
    totalTabsAccepted: Count
    composerRequests: Count
    chatRequests: Count
    agentRequests: Count
    cmdkUsages: Count
    subscriptionIncludedReqs: Count
    apiKeyReqs: Count
    usageBasedReqs: Count
    bugbotUsages: Count = 0  # absent from the oldest documented shape
    mostUsedModel: str | None = None
    applyMostUsedExtension: str | None = None
    tabMostUsedExtension: str | None = None
    clientVersion: str | None = None

    @field_validator("day", mode="before")
    @classmethod
    def _blank_day(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _has_a_day(self) -> CursorDailyRow:
        if self.day is None and self.date is None:
            raise ValueError("row has neither `day` nor `date`")
        return self

    @property
    def usage_date(self) -> dt.date:
        if self.day is not None:
            return self.day
        assert self.date is not None  # guaranteed by _has_a_day
        return datetime.fromtimestamp(self.date / 1000, tz=UTC).date()


class CursorPagination(Upstream):
    page: int | None = None
    pageSize: int | None = None
    totalUsers: int | None = None
    totalPages: int | None = None
    hasNextPage: bool


class CursorDailyUsagePage(Upstream):
    data: list[CursorDailyRow]
    pagination: CursorPagination | None = None


class CursorMember(Upstream):
    id: int | str | None = None
    name: str | None = None
    email: str
    role: str | None = None
    isRemoved: bool = False


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CursorTokenUsage:
    inputTokens: Count = 0
    outputTokens: Count = 0
    cacheWriteTokens: Count = 0
    cacheReadTokens: Count = 0
    totalCents: Decimal = Decimal(0)  # model cost in cents (fractional), a JSON number


def _epoch_ms(value: object) -> object:
    """`timestamp` is epoch milliseconds as a *string* (documented), or a number."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CursorUsageEvent:
    """One billable or included request (`POST /teams/filtered-usage-events`); no event id."""

    timestamp: Annotated[int, BeforeValidator(_epoch_ms)]
    userEmail: str | None = None
    serviceAccountId: str | None = None
    serviceAccountName: str | None = None
    model: str | None = None
    kind: str | None = None
    maxMode: bool | None = None
    requestsCosts: Decimal = Decimal(0)  # request units, may be fractional
    isTokenBasedCall: bool | None = None
    isChargeable: bool = False
    isHeadless: bool = False
    tokenUsage: CursorTokenUsage | None = None
    chargedCents: Decimal = Decimal(0)  # model cost + Cursor Token Rate (what spend adds up)
    cursorTokenFee: Decimal | None = None

    @property
    def usage_date(self) -> dt.date:
        return datetime.fromtimestamp(self.timestamp / 1000, tz=UTC).date()


class CursorEventsPagination(Upstream):
    numPages: int | None = None
    currentPage: int | None = None
    pageSize: int | None = None
    hasNextPage: bool


class CursorUsageEventsPage(Upstream):
    totalUsageEventsCount: int | None = None
    pagination: CursorEventsPagination
    usageEvents: Annotated[
        list[CursorUsageEvent], BeforeValidator(lambda v: [] if v is None else v)
    ]


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CursorMemberSpend:
    userId: int | str | None = None
    email: str | None = None
    name: str | None = None
    spendCents: Decimal | None = None  # on-demand only (older shape: the total)
    overallSpendCents: Decimal | None = None  # on-demand + included (newer shape)

    @property
    def total_cents(self) -> Decimal:
        """Both documented shapes: `overallSpendCents` when sent, else `spendCents`."""
        if self.overallSpendCents is not None:
            return self.overallSpendCents
        return self.spendCents or Decimal(0)


class CursorSpendPage(Upstream):
    teamMemberSpend: Annotated[
        list[CursorMemberSpend], BeforeValidator(lambda v: [] if v is None else v)
    ]
    subscriptionCycleStart: int | None = None  # epoch ms
    totalMembers: int | None = None
    totalPages: int | None = None


# --- Anthropic: Claude Code analytics --------------------------------------------------------


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ClaudeCodeActor:
    type: Literal["user_actor", "api_actor"] | str
    email_address: str | None = None
    api_key_name: str | None = None


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class LinesOfCode:
    added: Count = 0
    removed: Count = 0


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CoreMetrics:
    num_sessions: Count = 0
    lines_of_code: Annotated[LinesOfCode, BeforeValidator(_null_is_empty)] = LinesOfCode()
    commits_by_claude_code: Count = 0
    pull_requests_by_claude_code: Count = 0


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ToolAction:
    accepted: Count = 0
    rejected: Count = 0


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ModelTokens:
    input: Count = 0
    output: Count = 0
    cache_read: Count = 0
    cache_creation: Count = 0


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class EstimatedCost:
    currency: str = "USD"
    amount: Decimal  # cents, a JSON number


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ModelBreakdown:
    model: str
    tokens: Annotated[ModelTokens, BeforeValidator(_null_is_empty)]
    estimated_cost: EstimatedCost | None = None


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ClaudeCodeRecord:
    date: UtcDate
    actor: ClaudeCodeActor
    organization_id: str | None = None
    customer_type: str
    subscription_type: str | None = None
    terminal_type: str | None = None
    is_remote: bool | None = None  # newer field
    core_metrics: Annotated[CoreMetrics, BeforeValidator(_null_is_empty)]
    tool_actions: Annotated[dict[str, ToolAction], BeforeValidator(_null_is_empty)] = Field(
        default_factory=dict
    )
    model_breakdown: Annotated[
        list[ModelBreakdown], BeforeValidator(lambda v: [] if v is None else v)
    ] = Field(default_factory=list)


class ClaudeCodePage(Upstream):
    data: list[ClaudeCodeRecord]
    has_more: bool
    next_page: str | None = None


# --- Anthropic: messages usage and cost reports ---------------------------------------------


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CacheCreation:
    ephemeral_1h_input_tokens: Count = 0
    ephemeral_5m_input_tokens: Count = 0


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ServerToolUse:
    web_search_requests: Count = 0


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class MessagesUsageResult:
    uncached_input_tokens: Count
    cache_creation: Annotated[CacheCreation, BeforeValidator(_null_is_empty)] = CacheCreation()
    cache_read_input_tokens: Count
    output_tokens: Count
    server_tool_use: ServerToolUse | None = None
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    account_id: str | None = None
    service_account_id: str | None = None


class MessagesUsageBucket(Upstream):
    starting_at: UtcDatetime
    ending_at: datetime
    results: list[MessagesUsageResult]


class MessagesUsagePage(Upstream):
    data: list[MessagesUsageBucket]
    has_more: bool
    next_page: str | None = None


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CostResult:
    currency: str = "USD"
    amount: Decimal  # a decimal *string* in cents
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    token_type: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_is_text_or_number(cls, value: object) -> object:
        if isinstance(value, float):  # only reachable if a caller bypassed the Decimal parser
            raise ValueError("amount must be a decimal string")
        return value


class CostBucket(Upstream):
    starting_at: UtcDatetime
    ending_at: datetime
    results: list[CostResult]


class CostReportPage(Upstream):
    data: list[CostBucket]
    has_more: bool
    next_page: str | None = None


# --- Anthropic: directory lists -------------------------------------------------------------


class PrincipalRef(Upstream):
    id: str
    type: str | None = None


class ApiKey(Upstream):
    id: str
    name: str | None = None
    workspace_id: str | None = None
    created_by: PrincipalRef | None = None
    principal: PrincipalRef | None = None
    status: str | None = None


class OrgUser(Upstream):
    id: str
    email: str
    name: str | None = None
    role: str | None = None


class Workspace(Upstream):
    id: str
    name: str
    archived_at: UtcDatetime | None = None


class ListPage(Upstream, Generic[T]):
    data: list[T]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


# --- claude.ai: Compliance activity feed and Enterprise Analytics --------------------------------


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ActivityActor:
    type: str
    email_address: str | None = None
    user_id: str | None = None


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ComplianceActivity:
    id: str
    created_at: UtcDatetime
    type: str
    actor: ActivityActor


class ComplianceActivityPage(Upstream):
    data: list[ComplianceActivity]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class AnalyticsActor:
    type: str | None = None
    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    deleted: bool = False


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class AnalyticsUsageRow:
    actor: AnalyticsActor
    starting_at: UtcDatetime | None = None
    product: str | None = None
    model: str | None = None
    uncached_input_tokens: Count = 0
    cache_creation: Annotated[CacheCreation, BeforeValidator(_null_is_empty)] = CacheCreation()
    cache_read_input_tokens: Count = 0
    output_tokens: Count = 0
    server_tool_use: ServerToolUse | None = None
    requests: Count = 0


@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class AnalyticsCostRow:
    actor: AnalyticsActor
    starting_at: UtcDatetime | None = None
    product: str | None = None
    model: str | None = None
    currency: str = "USD"
    amount: Decimal  # decimal string in cents


class AnalyticsPage(Upstream, Generic[T]):
    data: list[T]
    has_more: bool | None = None
    next_page: str | None = None
    data_refreshed_at: UtcDatetime | None = None  # answers after it are still incomplete
