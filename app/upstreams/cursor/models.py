"""The Cursor Admin API's records, decoded by msgspec (see `app.ingestion.models` for the rules)."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
from msgspec.structs import force_setattr

from app.ingestion.models import (
    Count,
    DayText,
    NullIsEmpty,
    Row,
    Upstream,
    finite_money,
    share_ids,
    share_text,
    zero_nulls,
)

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
    # captured shapes: then derived from `chargedCents` (app.upstreams.cursor.spend), never 0.
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
