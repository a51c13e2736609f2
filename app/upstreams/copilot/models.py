"""GitHub's Copilot records, decoded by msgspec (see `app.ingestion.models` for the rules):
report metadata and per-user report records, seats, billing usage, GraphQL identities.

Field names follow GitHub's JSON. Fields GitHub added or renamed during 2026 are optional
(`ai_credits_used`, `ai_adoption_phase`, `used_copilot_coding_agent` → `…_cloud_agent`), and
every breakdown is optional: unknown keys are ignored.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal

import msgspec
from msgspec.structs import force_setattr

from app.ingestion.models import Count, DayText, Upstream, assume_utc, finite_money, zero_nulls

COUNTERS = (
    "user_initiated_interaction_count",
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_suggested_to_delete_sum",
    "loc_added_sum",
    "loc_deleted_sum",
)
# The per-user breakdowns kept (as JSON) when the record has them.
BREAKDOWNS = (
    "totals_by_ide",
    "totals_by_feature",
    "totals_by_language_feature",
    "totals_by_language_model",
    "totals_by_model_feature",
    "totals_by_3rd_party_agent",
    "totals_by_copilot_app",
)


class ReportLinks(Upstream, frozen=True, kw_only=True):
    """A report's metadata: signed links to its file(s) (shards, concatenated)."""

    download_links: list[str]
    report_day: DayText | None = None
    report_start_day: DayText | None = None
    report_end_day: DayText | None = None


class TokenUsage(Upstream, frozen=True, kw_only=True):
    output_tokens_sum: Count = 0
    prompt_tokens_sum: Count = 0

    def __post_init__(self) -> None:
        zero_nulls(self, ("output_tokens_sum", "prompt_tokens_sum"))


class CliTotals(Upstream, frozen=True, kw_only=True):
    session_count: Count = 0
    request_count: Count = 0
    prompt_count: Count = 0
    token_usage: TokenUsage | None = None

    def __post_init__(self) -> None:
        zero_nulls(self, ("session_count", "request_count", "prompt_count"))


class AdoptionPhase(Upstream, frozen=True, kw_only=True):
    phase: str | None = None
    phase_number: int | None = None
    version: str | None = None


class IdeTotals(Upstream, frozen=True, kw_only=True):
    ide: str | None = None


class CopilotUserDay(Upstream, frozen=True, kw_only=True):
    """One line of a `users-1-day` report: one user's day."""

    day: DayText
    user_id: int | None = None  # required for a row: a record without it is skipped, counted
    user_login: str | None = None
    enterprise_id: str | int | None = None
    organization_id: str | int | None = None
    user_initiated_interaction_count: Count
    code_generation_activity_count: Count
    code_acceptance_activity_count: Count
    loc_suggested_to_add_sum: Count
    loc_suggested_to_delete_sum: Count = 0  # "future support"
    loc_added_sum: Count
    loc_deleted_sum: Count
    used_agent: bool | None = None
    used_chat: bool | None = None
    used_cli: bool | None = None
    used_copilot_code_review_active: bool | None = None
    used_copilot_code_review_passive: bool | None = None
    used_copilot_coding_agent: bool | None = None  # the name before the 2026 rename …
    used_copilot_cloud_agent: bool | None = None  # … and after it
    totals_by_cli: CliTotals | None = None
    ai_credits_used: Decimal | None = None  # absent before 2026-06-19: unknown, not 0
    ai_adoption_phase: AdoptionPhase | None = None
    totals_by_ide: list[msgspec.Raw] | None = None
    totals_by_feature: list[msgspec.Raw] | None = None
    totals_by_language_feature: list[msgspec.Raw] | None = None
    totals_by_language_model: list[msgspec.Raw] | None = None
    totals_by_model_feature: list[msgspec.Raw] | None = None
    totals_by_3rd_party_agent: list[msgspec.Raw] | None = None
    totals_by_copilot_app: msgspec.Raw | None = None

    def __post_init__(self) -> None:
        zero_nulls(self, COUNTERS)
        finite_money(self, ("ai_credits_used",))
        if self.ai_credits_used is not None and self.ai_credits_used < 0:
            raise ValueError(f"`ai_credits_used` is negative: {self.ai_credits_used}")
        force_setattr(self, "day", dt.date.fromisoformat(str(self.day)[:10]))
        if isinstance(self.user_login, str) and not self.user_login.strip():
            force_setattr(self, "user_login", None)

    @property
    def used_cloud_agent(self) -> bool | None:
        if self.used_copilot_cloud_agent is not None:
            return self.used_copilot_cloud_agent
        return self.used_copilot_coding_agent


class SeatUser(Upstream, frozen=True, kw_only=True):
    """A seat's assignee: a user (older schemas also allowed a team or an organisation)."""

    login: str | None = None
    id: int | None = None
    email: str | None = None  # the public profile address only, usually null
    type: str | None = None

    @property
    def is_person(self) -> bool:
        return self.login is not None and self.id is not None and self.type in (None, "User")


class SeatOrganization(Upstream, frozen=True, kw_only=True):
    login: str | None = None


class SeatTeam(Upstream, frozen=True, kw_only=True):
    slug: str | None = None
    name: str | None = None


class Seat(Upstream, frozen=True, kw_only=True):
    assignee: SeatUser | None = None  # null for a seat of a deleted user
    created_at: datetime
    organization: SeatOrganization | None = None
    assigning_team: SeatTeam | None = None
    pending_cancellation_date: dt.date | None = None
    last_activity_at: datetime | None = None
    last_activity_editor: str | None = None
    last_authenticated_at: datetime | None = None
    plan_type: str | None = None

    def __post_init__(self) -> None:
        for name in ("created_at", "last_activity_at", "last_authenticated_at"):
            value = getattr(self, name)
            if value is not None:
                force_setattr(self, name, assume_utc(value))


class SeatsPage(Upstream, frozen=True, kw_only=True):
    total_seats: int
    seats: list[Seat]


class BillingItem(Upstream, frozen=True, kw_only=True):
    """One line of the AI-credit (or premium-request) usage: amounts in USD, exact. A missing
    amount fails the day (never 0)."""

    product: str
    sku: str
    model: str | None = None
    unitType: str | None = None
    pricePerUnit: Decimal
    grossQuantity: Decimal
    grossAmount: Decimal
    discountQuantity: Decimal
    discountAmount: Decimal
    netQuantity: Decimal
    netAmount: Decimal

    def __post_init__(self) -> None:
        finite_money(
            self,
            ("pricePerUnit", "grossQuantity", "grossAmount", "discountQuantity",
             "discountAmount", "netQuantity", "netAmount"),
        )  # fmt: skip


class BillingUsage(Upstream, frozen=True, kw_only=True):
    usageItems: list[BillingItem]
    user: str | None = None


# --- GraphQL identities ------------------------------------------------------------------


class GraphUser(Upstream, frozen=True, kw_only=True):
    login: str | None = None
    databaseId: int | None = None


class EmailValue(Upstream, frozen=True, kw_only=True):
    value: str | None = None


class SamlIdentity(Upstream, frozen=True, kw_only=True):
    nameId: str | None = None
    emails: list[EmailValue] | None = None


class ScimIdentity(Upstream, frozen=True, kw_only=True):
    username: str | None = None
    emails: list[EmailValue] | None = None


class ExternalIdentity(Upstream, frozen=True, kw_only=True):
    samlIdentity: SamlIdentity | None = None
    scimIdentity: ScimIdentity | None = None
    user: GraphUser | None = None


class PageInfo(Upstream, frozen=True, kw_only=True):
    hasNextPage: bool
    endCursor: str | None = None


class Connection(Upstream, frozen=True, kw_only=True):
    pageInfo: PageInfo


class IdentityConnection(Connection, frozen=True, kw_only=True):
    nodes: list[ExternalIdentity]


class Member(Upstream, frozen=True, kw_only=True):
    login: str | None = None
    databaseId: int | None = None
    organizationVerifiedDomainEmails: list[str] | None = None


class MemberConnection(Connection, frozen=True, kw_only=True):
    nodes: list[Member]


class GraphError(Upstream, frozen=True, kw_only=True):
    message: str = "error"
    type: str | None = None


class IdentityProvider(Upstream, frozen=True, kw_only=True):
    externalIdentities: IdentityConnection


class SamlOwner(Upstream, frozen=True, kw_only=True):
    samlIdentityProvider: IdentityProvider | None = None


class EnterpriseOwnerInfo(Upstream, frozen=True, kw_only=True):
    samlIdentityProvider: IdentityProvider | None = None


class Enterprise(Upstream, frozen=True, kw_only=True):
    ownerInfo: EnterpriseOwnerInfo | None = None


class OrganizationMembers(Upstream, frozen=True, kw_only=True):
    membersWithRole: MemberConnection | None = None


class IdentityData(Upstream, frozen=True, kw_only=True):
    organization: SamlOwner | None = None
    enterprise: Enterprise | None = None


class MemberData(Upstream, frozen=True, kw_only=True):
    organization: OrganizationMembers | None = None


class IdentityAnswer(Upstream, frozen=True, kw_only=True):
    data: IdentityData | None = None
    errors: list[GraphError] | None = None


class MemberAnswer(Upstream, frozen=True, kw_only=True):
    data: MemberData | None = None
    errors: list[GraphError] | None = None
