"""Typed upstream records, decoded by msgspec straight from the JSON bytes.

Unknown fields are ignored (upstreams add fields over time); documented-optional fields are
optional; required fields are required, so a page missing them fails loudly instead of
producing silent zeros. Field names follow the upstream JSON.

msgspec reads a JSON number into a `Decimal` from its text, so money sent as a number (Claude
Code's `estimated_cost.amount`, Cursor's cents) stays exact without a float in between; and it
decodes and validates a page of thousands of rows in 1.4 to 5 times less time than pydantic
did (the README's Performance section). Rules a type cannot say (a JSON null count means 0, a
timestamp without an offset is UTC, an amount is finite) are applied in `__post_init__`, which
msgspec runs for every decoded row.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Generic, Optional, TypeVar

import msgspec
from msgspec.structs import force_setattr

T = TypeVar("T")

# Types as msgspec reads them, and as the rest of the code sees them once `__post_init__` has
# applied the rule: a count sent as JSON null is 0, a nested object sent as null is empty, a
# day sent as text (a date or an RFC 3339 timestamp) is a date.
if TYPE_CHECKING:
    Count = int
    NullIsEmpty = Annotated[T, "null is empty"]
    DayText = dt.date
else:
    Count = int | None
    NullIsEmpty = Optional  # subscripted below: Optional[X]
    DayText = str


class Upstream(msgspec.Struct, frozen=True, kw_only=True):
    """A page, an envelope or a short list's item."""


class Row(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A row, of which a page holds thousands. Rows hold only scalars and other rows, so they
    can never be part of a reference cycle: the garbage collector need not track them."""


def zero_nulls(row: msgspec.Struct, names: tuple[str, ...]) -> None:
    """A count sent as JSON null means none. (A required count that is *missing* still fails.)"""
    for name in names:
        if getattr(row, name) is None:
            force_setattr(row, name, 0)


# One str object per distinct value within the page being decoded (cleared after each page:
# a process-wide table such as `sys.intern`'s would only grow).
_page_texts: dict[str, str] = {}


def share_text(row: msgspec.Struct, names: tuple[str, ...]) -> None:
    """Fields whose values repeat across a page's rows (models, workspaces, tiers, a person's
    email on each day) share one str object per value, as pydantic's string cache did: a page
    of 10,000 messages-usage results takes a third less memory, and pages of several sources
    are alive at once."""
    for name in names:
        value = getattr(row, name)
        if value is not None:
            force_setattr(row, name, _page_texts.setdefault(value, value))


NULLISH = ("", "null")


def share_ids(row: msgspec.Struct, names: tuple[str, ...]) -> None:
    """Ids and emails: a value that only looks present — "", whitespace, or the string "null"
    (captured from live Cursor accounts on human events: `"serviceAccountId": "null"`) — is
    absent; others are shared as `share_text` does. A person's event must never become a
    service account's."""
    for name in names:
        value = getattr(row, name)
        # Lower-cased only when it is short enough to be "null".
        if isinstance(value, str) and len(bare := value.strip()) <= 4 and bare.lower() in NULLISH:
            force_setattr(row, name, None)
    share_text(row, names)


def page_decoded() -> None:
    """Forget the page's shared strings (its rows keep theirs)."""
    _page_texts.clear()


def finite_money(row: msgspec.Struct, names: tuple[str, ...]) -> None:
    """Money is a finite number: a decimal string may say "NaN" or "Infinity", which no
    amount is."""
    for name in names:
        value = getattr(row, name)
        if value is not None and not value.is_finite():
            raise ValueError(f"`{name}` is not a finite amount: {value}")


def utc_date(value: str) -> dt.date:
    """RFC 3339 timestamp or bare YYYY-MM-DD (docs drifted between the two) → UTC date."""
    if "T" in value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC).date() if parsed.tzinfo else parsed.date()
    return dt.date.fromisoformat(value)


def assume_utc(value: datetime) -> datetime:
    """A timestamp without an offset is UTC — said explicitly, never the host's time zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _utc_fields(row: msgspec.Struct, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(row, name)
        if value is not None and value.tzinfo is None:
            force_setattr(row, name, value.replace(tzinfo=UTC))


# --- Cursor ---------------------------------------------------------------------------------

_DAILY_COUNTS = (
    "totalLinesAdded", "totalLinesDeleted", "acceptedLinesAdded", "acceptedLinesDeleted",
    "totalApplies", "totalAccepts", "totalRejects", "totalTabsShown", "totalTabsAccepted",
    "composerRequests", "chatRequests", "agentRequests", "cmdkUsages",
    "subscriptionIncludedReqs", "apiKeyReqs", "usageBasedReqs", "bugbotUsages",
)  # fmt: skip


_DAILY_TEXT = ("mostUsedModel", "applyMostUsedExtension", "tabMostUsedExtension", "clientVersion")


class CursorDailyRow(Row, frozen=True, kw_only=True):
    email: str | None  # null for a removed member: the row is skipped (and counted), not the page
    date: int | None = None  # epoch ms of the UTC day (older docs: the only day field)
    day: DayText | None = None  # YYYY-MM-DD; "" is sent for none
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

    def __post_init__(self) -> None:
        share_ids(self, ("email",))
        share_text(self, _DAILY_TEXT)
        zero_nulls(self, _DAILY_COUNTS)
        day: object = self.day
        if isinstance(day, str):
            force_setattr(self, "day", dt.date.fromisoformat(day) if day else None)
        if self.day is None and self.date is None:
            raise ValueError("row has neither `day` nor `date`")

    @property
    def usage_date(self) -> dt.date:
        if self.day is not None:
            return self.day
        assert self.date is not None  # guaranteed by __post_init__
        return datetime.fromtimestamp(self.date / 1000, tz=UTC).date()


class CursorPagination(Upstream, frozen=True, kw_only=True):
    page: int | None = None
    pageSize: int | None = None
    totalUsers: int | None = None
    totalPages: int | None = None
    hasNextPage: bool


class CursorDailyUsageEnvelope(Upstream, frozen=True, kw_only=True):
    """A daily-usage page with its rows still JSON: the page is checked and its pagination read
    before the rows are validated, part by part (`app.ingestion.pagination.StreamedPage`)."""

    data: list[msgspec.Raw]
    pagination: CursorPagination | None = None


class CursorMember(Upstream, frozen=True, kw_only=True):
    id: int | str | None = None
    name: str | None = None
    email: str
    role: str | None = None
    isRemoved: bool = False


_TOKEN_COUNTS = ("inputTokens", "outputTokens", "cacheWriteTokens", "cacheReadTokens")


class CursorTokenUsage(Row, frozen=True, kw_only=True):
    inputTokens: Count
    outputTokens: Count
    cacheWriteTokens: Count
    cacheReadTokens: Count
    # The model cost in cents *before* the discount (fractional, a JSON number). Absent in some
    # captured shapes: then derived from `chargedCents` (app.processing.cursor_spend), never 0.
    totalCents: Decimal | None = None
    discountPercentOff: Decimal | None = None  # e.g. 10 or 12.5; the fee is not discounted

    def __post_init__(self) -> None:
        zero_nulls(self, _TOKEN_COUNTS)
        finite_money(self, ("totalCents", "discountPercentOff"))
        if self.discountPercentOff is not None and not 0 <= self.discountPercentOff <= 100:
            raise ValueError(f"`discountPercentOff` is not a percentage: {self.discountPercentOff}")


class CursorUsageEvent(Row, frozen=True, kw_only=True):
    """One billable or included request (`POST /teams/filtered-usage-events`); no event id."""

    timestamp: int  # epoch milliseconds, documented as a *string* (a number is taken too)
    userEmail: str | None = None
    serviceAccountId: str | None = None
    serviceAccountName: str | None = None
    model: str | None = None
    kind: str | None = None
    maxMode: bool | None = None
    requestsCosts: Decimal  # request units, may be fractional (documented on every event)
    isTokenBasedCall: bool | None = None
    isChargeable: bool = False
    isHeadless: bool = False
    tokenUsage: CursorTokenUsage | None = None
    # Model cost after discount + Cursor Token Rate (what spend adds up), stored as sent. An
    # older documented shape lacks it: derived from `tokenUsage` then, and the page fails when
    # there is nothing to derive it from — never a charge of 0.
    chargedCents: Decimal | None = None
    cursorTokenFee: Decimal | None = None

    def __post_init__(self) -> None:
        usage = self.tokenUsage
        if self.chargedCents is None and (usage is None or usage.totalCents is None):
            raise ValueError("`chargedCents` is missing and no `tokenUsage.totalCents` gives it")
        share_ids(self, ("userEmail", "serviceAccountId", "serviceAccountName"))
        share_text(self, ("model", "kind"))
        finite_money(self, ("requestsCosts", "chargedCents", "cursorTokenFee"))

    @property
    def usage_date(self) -> dt.date:
        return datetime.fromtimestamp(self.timestamp / 1000, tz=UTC).date()


class CursorEventsPagination(Upstream, frozen=True, kw_only=True):
    numPages: int | None = None
    currentPage: int | None = None
    pageSize: int | None = None
    hasNextPage: bool


class CursorUsageEventsPage(Upstream, frozen=True, kw_only=True):
    totalUsageEventsCount: int | None = None
    pagination: CursorEventsPagination
    usageEvents: NullIsEmpty[list[CursorUsageEvent]]

    def __post_init__(self) -> None:
        if self.usageEvents is None:
            force_setattr(self, "usageEvents", [])


class CursorMemberSpend(Row, frozen=True, kw_only=True):
    userId: int | str | None = None
    email: str | None = None
    name: str | None = None
    spendCents: Decimal | None = None  # on-demand only (older shape: the total)
    overallSpendCents: Decimal | None = None  # on-demand + included (newer shape)
    includedSpendCents: Decimal | None = None  # undocumented; captured beside spendCents

    def __post_init__(self) -> None:
        share_ids(self, ("email",))
        finite_money(self, ("spendCents", "overallSpendCents", "includedSpendCents"))
        if self.spendCents is None and self.overallSpendCents is None:
            raise ValueError("neither `spendCents` nor `overallSpendCents` is sent")

    @property
    def total_cents(self) -> Decimal:
        """On-demand + included, from whichever documented shape was sent: `overallSpendCents`;
        else `spendCents` + `includedSpendCents`; else `spendCents` (the oldest shape, where it
        was the total)."""
        if self.overallSpendCents is not None:
            return self.overallSpendCents
        assert self.spendCents is not None
        return self.spendCents + (self.includedSpendCents or Decimal(0))


class CursorSpendPage(Upstream, frozen=True, kw_only=True):
    teamMemberSpend: NullIsEmpty[list[CursorMemberSpend]]
    subscriptionCycleStart: int | None = None  # epoch ms
    totalMembers: int | None = None
    totalPages: int | None = None

    def __post_init__(self) -> None:
        if self.teamMemberSpend is None:
            force_setattr(self, "teamMemberSpend", [])


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


# --- claude.ai: Compliance activity feed and Enterprise Analytics --------------------------------


class ActivityActor(Row, frozen=True, kw_only=True):
    type: str
    email_address: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        share_ids(self, ("email_address", "user_id"))
        share_text(self, ("type",))


class ComplianceActivity(Row, frozen=True, kw_only=True):
    id: str
    created_at: datetime
    type: str
    actor: ActivityActor

    def __post_init__(self) -> None:
        share_text(self, ("type",))
        _utc_fields(self, ("created_at",))


class ComplianceActivityPage(Upstream, frozen=True, kw_only=True):
    data: list[ComplianceActivity]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class AnalyticsActor(Row, frozen=True, kw_only=True):
    type: str | None = None
    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    deleted: bool = False

    def __post_init__(self) -> None:
        share_ids(self, ("user_id", "email"))
        share_text(self, ("type", "name"))


_ANALYTICS_COUNTS = (*_USAGE_COUNTS, "requests")


class AnalyticsOrgUsage(Row, frozen=True, kw_only=True):
    """Tokens of one product (a bucket's result; a person's row adds who and when)."""

    product: str | None = None  # grouped by product: null where none claims the usage
    uncached_input_tokens: Count
    cache_creation: NullIsEmpty[CacheCreation]
    cache_read_input_tokens: Count
    output_tokens: Count
    server_tool_use: ServerToolUse | None = None
    requests: Count = 0

    def __post_init__(self) -> None:
        share_text(self, ("product",))
        zero_nulls(self, _ANALYTICS_COUNTS)
        if self.cache_creation is None:
            force_setattr(self, "cache_creation", NO_CACHE_CREATION)


class AnalyticsUsageRow(AnalyticsOrgUsage, frozen=True, kw_only=True):
    actor: AnalyticsActor
    starting_at: datetime | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        share_text(self, ("model",))
        _utc_fields(self, ("starting_at",))


class AnalyticsOrgCost(Row, frozen=True, kw_only=True):
    product: str | None = None
    currency: str = "USD"
    amount: Decimal  # decimal string in cents, after discounts

    def __post_init__(self) -> None:
        share_text(self, ("product", "currency"))
        finite_money(self, ("amount",))


class AnalyticsCostRow(AnalyticsOrgCost, frozen=True, kw_only=True):
    actor: AnalyticsActor
    starting_at: datetime | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        share_text(self, ("model",))
        _utc_fields(self, ("starting_at",))


class AnalyticsPage(Upstream, Generic[T], frozen=True, kw_only=True):
    data: list[T]
    has_more: bool | None = None
    next_page: str | None = None
    data_refreshed_at: datetime | None = None  # answers after it are still incomplete

    def __post_init__(self) -> None:
        _utc_fields(self, ("data_refreshed_at",))


# --- Enterprise Analytics, organisation-wide (bucketed) ----------------------------------------
# Per-user reports hold seat users only; these include API-key and automation traffic.


class AnalyticsOrgBucket(Upstream, Generic[T], frozen=True, kw_only=True):
    starting_at: datetime
    ending_at: datetime
    results: NullIsEmpty[list[T]]

    def __post_init__(self) -> None:
        _utc_fields(self, ("starting_at", "ending_at"))
        if self.results is None:
            force_setattr(self, "results", [])


class AnalyticsOrgPage(Upstream, Generic[T], frozen=True, kw_only=True):
    data: list[AnalyticsOrgBucket[T]]
    has_more: bool | None = None
    next_page: str | None = None
    data_refreshed_at: datetime | None = None

    def __post_init__(self) -> None:
        _utc_fields(self, ("data_refreshed_at",))
