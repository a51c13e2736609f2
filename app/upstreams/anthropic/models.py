"""The Anthropic Admin API's records: Claude Code analytics, the messages usage and cost
reports, and the directory lists (rules: `app.ingestion.models`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

import msgspec
from msgspec.structs import force_setattr

from app.ingestion.models import (
    Count,
    DayText,
    NullIsEmpty,
    Row,
    Upstream,
    _utc_fields,
    finite_money,
    share_ids,
    share_text,
    utc_date,
    zero_nulls,
)

T = TypeVar("T")
R_co = TypeVar("R_co", covariant=True)


class PageOf(Protocol[T]):
    """A page of the Admin API's paged answers: its items (`data`)."""

    @property
    def data(self) -> list[T]: ...


class FreshPageOf(PageOf[T], Protocol[T]):
    """A page that says how fresh it is (Enterprise Analytics)."""

    @property
    def data_refreshed_at(self) -> datetime | None: ...


class Bucket(Protocol[R_co]):
    """A daily bucket of a report: its day and its results."""

    @property
    def starting_at(self) -> datetime: ...

    @property
    def results(self) -> Sequence[R_co]: ...


# --- Anthropic: Claude Code analytics --------------------------------------------------------


class ClaudeCodeActor(Row, frozen=True, kw_only=True):
    type: str  # "user_actor" or "api_actor"; another is kept as sent
    email_address: str | None = None
    api_key_name: str | None = None

    def __post_init__(self) -> None:
        share_ids(self, ("email_address", "api_key_name"))
        share_text(self, ("type",))


class LinesOfCode(Row, frozen=True, kw_only=True):
    added: Count = 0
    removed: Count = 0

    def __post_init__(self) -> None:
        zero_nulls(self, ("added", "removed"))


class CoreMetrics(Row, frozen=True, kw_only=True):
    num_sessions: Count = 0
    lines_of_code: NullIsEmpty[LinesOfCode] = msgspec.field(default_factory=LinesOfCode)
    commits_by_claude_code: Count = 0
    pull_requests_by_claude_code: Count = 0

    def __post_init__(self) -> None:
        zero_nulls(self, ("num_sessions", "commits_by_claude_code", "pull_requests_by_claude_code"))
        if self.lines_of_code is None:
            force_setattr(self, "lines_of_code", LinesOfCode())


class ToolAction(Row, frozen=True, kw_only=True):
    accepted: Count = 0
    rejected: Count = 0

    def __post_init__(self) -> None:
        zero_nulls(self, ("accepted", "rejected"))


class ModelTokens(Row, frozen=True, kw_only=True):
    input: Count
    output: Count
    cache_read: Count
    cache_creation: Count

    def __post_init__(self) -> None:
        zero_nulls(self, ("input", "output", "cache_read", "cache_creation"))


class EstimatedCost(Row, frozen=True, kw_only=True):
    currency: str = "USD"
    amount: Decimal  # cents, a JSON number

    def __post_init__(self) -> None:
        finite_money(self, ("amount",))


# A tokens object sent as JSON null: none of each (a missing one fails the page).
NO_MODEL_TOKENS = ModelTokens(input=0, output=0, cache_read=0, cache_creation=0)


class ModelBreakdown(Row, frozen=True, kw_only=True):
    model: str
    tokens: NullIsEmpty[ModelTokens]
    estimated_cost: EstimatedCost | None = None

    def __post_init__(self) -> None:
        share_text(self, ("model",))
        if self.tokens is None:
            force_setattr(self, "tokens", NO_MODEL_TOKENS)


class ClaudeCodeRecord(Row, frozen=True, kw_only=True):
    date: DayText  # YYYY-MM-DD or an RFC 3339 timestamp: its UTC day
    actor: ClaudeCodeActor
    organization_id: str | None = None
    customer_type: str
    subscription_type: str | None = None
    terminal_type: str | None = None
    is_remote: bool | None = None  # newer field
    core_metrics: NullIsEmpty[CoreMetrics]
    tool_actions: NullIsEmpty[dict[str, ToolAction]] = msgspec.field(default_factory=dict)
    model_breakdown: NullIsEmpty[list[ModelBreakdown]] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        share_text(self, ("organization_id", "customer_type", "subscription_type", "terminal_type"))
        day: object = self.date
        if isinstance(day, str):
            force_setattr(self, "date", utc_date(day))
        if self.core_metrics is None:
            force_setattr(self, "core_metrics", CoreMetrics())
        if self.tool_actions is None:
            force_setattr(self, "tool_actions", {})
        if self.model_breakdown is None:
            force_setattr(self, "model_breakdown", [])


class ClaudeCodePage(Upstream, frozen=True, kw_only=True):
    data: list[ClaudeCodeRecord]
    has_more: bool
    next_page: str | None = None


# --- Anthropic: messages usage and cost reports ---------------------------------------------


class CacheCreation(Row, frozen=True, kw_only=True):
    ephemeral_1h_input_tokens: Count
    ephemeral_5m_input_tokens: Count

    def __post_init__(self) -> None:
        zero_nulls(self, ("ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"))


NO_CACHE_CREATION = CacheCreation(ephemeral_1h_input_tokens=0, ephemeral_5m_input_tokens=0)


class ServerToolUse(Row, frozen=True, kw_only=True):
    web_search_requests: Count = 0

    def __post_init__(self) -> None:
        zero_nulls(self, ("web_search_requests",))


_USAGE_IDS = ("api_key_id", "workspace_id", "account_id", "service_account_id")
_USAGE_TEXT = ("model", "service_tier", "context_window", "inference_geo")
_USAGE_COUNTS = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")


class MessagesUsageResult(Row, frozen=True, kw_only=True):
    uncached_input_tokens: Count
    cache_creation: NullIsEmpty[CacheCreation]
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

    def __post_init__(self) -> None:
        share_ids(self, _USAGE_IDS)
        share_text(self, _USAGE_TEXT)
        zero_nulls(self, _USAGE_COUNTS)
        if self.cache_creation is None:
            force_setattr(self, "cache_creation", NO_CACHE_CREATION)


class MessagesUsageBucket(Upstream, frozen=True, kw_only=True):
    starting_at: datetime
    ending_at: datetime
    results: list[MessagesUsageResult]

    def __post_init__(self) -> None:
        _utc_fields(self, ("starting_at",))


class MessagesUsagePage(Upstream, frozen=True, kw_only=True):
    data: list[MessagesUsageBucket]
    has_more: bool
    next_page: str | None = None


_COST_TEXT = (
    "currency", "description", "cost_type", "model", "token_type", "service_tier",
    "context_window", "inference_geo",
)  # fmt: skip


class CostResult(Row, frozen=True, kw_only=True):
    currency: str = "USD"
    amount: Decimal  # a decimal *string* in cents (a number is read exactly too)
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    token_type: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None

    def __post_init__(self) -> None:
        share_ids(self, ("workspace_id",))
        share_text(self, _COST_TEXT)
        finite_money(self, ("amount",))


class CostBucket(Upstream, frozen=True, kw_only=True):
    starting_at: datetime
    ending_at: datetime
    results: list[CostResult]

    def __post_init__(self) -> None:
        _utc_fields(self, ("starting_at",))


class CostReportPage(Upstream, frozen=True, kw_only=True):
    data: list[CostBucket]
    has_more: bool
    next_page: str | None = None


# --- Anthropic: directory lists -------------------------------------------------------------


class PrincipalRef(Upstream, frozen=True, kw_only=True):
    id: str
    type: str | None = None


class ApiKey(Upstream, frozen=True, kw_only=True):
    id: str
    name: str | None = None
    workspace_id: str | None = None
    created_by: PrincipalRef | None = None
    principal: PrincipalRef | None = None
    status: str | None = None
    partial_key_hint: str | None = None  # "sk-ant-api03-R2D...igAA"
    expires_at: datetime | None = None  # since 2026-07; null: never

    def __post_init__(self) -> None:
        _utc_fields(self, ("expires_at",))


class OrgUser(Upstream, frozen=True, kw_only=True):
    id: str
    email: str
    name: str | None = None
    role: str | None = None


class Workspace(Upstream, frozen=True, kw_only=True):
    id: str
    name: str
    archived_at: datetime | None = None

    def __post_init__(self) -> None:
        _utc_fields(self, ("archived_at",))


class ListPage(Upstream, Generic[T], frozen=True, kw_only=True):
    data: list[T]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None
