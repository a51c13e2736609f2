"""claude.ai's records: the Compliance activity feed and Enterprise Analytics (rules:
`app.ingestion.models`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from msgspec.structs import force_setattr

from app.ingestion.models import (
    Count,
    NullIsEmpty,
    Row,
    Upstream,
    _utc_fields,
    finite_money,
    share_ids,
    share_text,
    zero_nulls,
)
from app.upstreams.anthropic.models import (
    _USAGE_COUNTS,
    NO_CACHE_CREATION,
    CacheCreation,
    ServerToolUse,
)

T = TypeVar("T")


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
    """One person's tokens of a product (the organisation's row, with its person)."""

    actor: AnalyticsActor
    starting_at: datetime | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _person_rules(self)


class AnalyticsOrgCost(Row, frozen=True, kw_only=True):
    product: str | None = None
    currency: str = "USD"
    amount: Decimal  # decimal string in cents, after discounts

    def __post_init__(self) -> None:
        share_text(self, ("product", "currency"))
        finite_money(self, ("amount",))


class AnalyticsCostRow(AnalyticsOrgCost, frozen=True, kw_only=True):
    """One person's cost of a product (the organisation's row, with its person)."""

    actor: AnalyticsActor
    starting_at: datetime | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _person_rules(self)


def _person_rules(row: AnalyticsUsageRow | AnalyticsCostRow) -> None:
    """What a per-person row adds to the organisation's: its model shared, its time in UTC."""
    share_text(row, ("model",))
    _utc_fields(row, ("starting_at",))


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
