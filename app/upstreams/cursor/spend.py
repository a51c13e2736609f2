"""Cursor usage events → per (day, person) spend, and the reconciliation with `/teams/spend`
(pure functions, no I/O).

Events are folded page by page into one small tally per person of the day and dropped: no
event is kept (they have no upstream id, so a day is always recomputed from a complete fetch).
A service account's events are its own row, `service-account:<id>`, never a person's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypedDict

from app.ingestion.money import cents_to_usd
from app.processing.attribution import SERVICE_ACCOUNT, AttributionDirectory
from app.processing.emails import normalize_email
from app.upstreams.cursor.facts import CursorSpendFact
from app.upstreams.cursor.models import CursorMemberSpend, CursorUsageEvent

SERVICE_ACCOUNT_PREFIX = "service-account:"


class ReconciliationDetails(TypedDict):
    """This cycle's charged events against `/teams/spend`, as `cursor_spend` records it (money
    as decimal strings: JSON keeps them exact)."""

    cycle_start: str | None
    spend_usd: str
    charged_usd: str
    difference_usd: str
    largest_difference_usd: str
    largest_difference_email: str | None
    members_beyond_tolerance: int
    cycle_days_not_ingested: int  # days of the cycle the table does not hold yet


@dataclass(frozen=True, slots=True)
class EventMoney:
    """One event's cents, each as documented (`shared/reference/upstream-apis.md` §12.2):
    charged = model cost × (1 − discount %) + Token Rate; the fee is never discounted."""

    charged: Decimal  # as sent; derived by the formula only when absent
    model: Decimal  # after the discount
    discount: Decimal
    fee: Decimal
    on_demand: bool  # billed beyond the plan (else included in it)
    derived: bool  # `chargedCents` or `tokenUsage.totalCents` was absent and derived


@functools.cache  # a handful of (kind, flag) pairs, asked for every event
def plan_part(kind: str | None, chargeable: bool) -> bool:
    """Whether an event is billed beyond the plan: its `kind` says so ("Usage-based") or says
    it is included ("Included in Business"); `isChargeable` decides only where `kind` says
    neither (captured included events carry `isChargeable: true`)."""
    words = (kind or "").lower()
    if "usage" in words and "based" in words:
        return True
    if "included" in words:
        return False
    return chargeable


_ZERO = Decimal(0)


def event_money(event: CursorUsageEvent) -> EventMoney:
    return EventMoney(*_money(event))


def _money(event: CursorUsageEvent) -> tuple[Decimal, Decimal, Decimal, Decimal, bool, bool]:
    """`EventMoney`'s fields, as a tuple: the fold takes them for every event."""
    fee = event.cursorTokenFee or _ZERO
    usage = event.tokenUsage
    charged, derived = event.chargedCents, False
    if usage is not None and (listed := usage.totalCents) is not None:
        off = usage.discountPercentOff
        model = listed * (1 - off / 100) if off else listed
        if charged is None:  # the model guarantees one of the two
            charged, derived = model + fee, True
    elif usage is not None and charged is not None:  # token-based, its model cost not sent
        model, derived = charged - fee, True
        off = usage.discountPercentOff
        listed = model / (1 - off / 100) if off and off < 100 else model
    else:  # request-based: charged per request, no model cost of its own
        model = listed = _ZERO
    assert charged is not None
    discount = listed - model if listed is not model else _ZERO
    return charged, model, discount, fee, plan_part(event.kind, event.isChargeable), derived


@dataclass(slots=True)
class SpendTally:
    """One identity's events of one day, added up."""

    charged_cents: Decimal = Decimal(0)
    on_demand_cents: Decimal = Decimal(0)
    included_cents: Decimal = Decimal(0)
    model_cents: Decimal = Decimal(0)
    discount_cents: Decimal = Decimal(0)
    token_fee_cents: Decimal = Decimal(0)
    derived: int = 0
    request_units: Decimal = Decimal(0)
    events: int = 0
    chargeable: int = 0
    headless: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    service_account_id: str | None = None
    service_account_name: str | None = None


DayTally = dict[str, SpendTally]  # identity → its tally


def identity_of(event: CursorUsageEvent) -> str | None:
    """Whose row an event goes to: a service account's own, else the person's email."""
    if event.serviceAccountId:
        return f"{SERVICE_ACCOUNT_PREFIX}{event.serviceAccountId}".lower()
    return normalize_email(event.userEmail)


def tally_events(events: Iterable[CursorUsageEvent], day: DayTally) -> int:
    """Add `events` into `day`; returns how many named nobody (skipped, counted)."""
    unusable = 0
    for event in events:
        identity = identity_of(event)
        if identity is None:
            unusable += 1
            continue
        tally = day.get(identity)
        if tally is None:
            tally = day[identity] = SpendTally(
                service_account_id=event.serviceAccountId,
                service_account_name=event.serviceAccountName,
            )
        charged, model, discount, fee, on_demand, derived = _money(event)
        tally.charged_cents += charged
        if on_demand:
            tally.on_demand_cents += charged
        else:
            tally.included_cents += charged
        tally.model_cents += model
        if discount:
            tally.discount_cents += discount
        tally.token_fee_cents += fee
        tally.derived += derived
        tally.request_units += event.requestsCosts
        tally.events += 1
        tally.chargeable += event.isChargeable
        tally.headless += event.isHeadless
        if (usage := event.tokenUsage) is not None:
            tally.input_tokens += usage.inputTokens
            tally.output_tokens += usage.outputTokens
            tally.cache_write_tokens += usage.cacheWriteTokens
            tally.cache_read_tokens += usage.cacheReadTokens
        tally.service_account_name = tally.service_account_name or event.serviceAccountName
    return unusable


def spend_facts(
    day: date, tallies: DayTally, directory: AttributionDirectory
) -> list[CursorSpendFact]:
    facts = []
    for identity, tally in sorted(tallies.items()):
        if tally.service_account_id is not None:
            attribution = directory.service_account()
            method, confidence = SERVICE_ACCOUNT, attribution.confidence
        else:
            attribution = directory.direct(identity)
            method, confidence = attribution.method, attribution.confidence
        facts.append(
            CursorSpendFact(
                usage_date=day,
                email=identity,
                charged_cost_usd=cents_to_usd(tally.charged_cents),
                on_demand_cost_usd=cents_to_usd(tally.on_demand_cents),
                included_cost_usd=cents_to_usd(tally.included_cents),
                model_cost_usd=cents_to_usd(tally.model_cents),
                discount_usd=cents_to_usd(tally.discount_cents),
                token_fee_usd=cents_to_usd(tally.token_fee_cents),
                derived_cost_events=tally.derived,
                billable_requests=tally.request_units,
                usage_events=tally.events,
                chargeable_events=tally.chargeable,
                headless_events=tally.headless,
                input_tokens=tally.input_tokens,
                output_tokens=tally.output_tokens,
                cache_write_tokens=tally.cache_write_tokens,
                cache_read_tokens=tally.cache_read_tokens,
                service_account_id=tally.service_account_id,
                service_account_name=tally.service_account_name,
                attribution_method=method,
                attribution_confidence=confidence,
            )
        )
    return facts


@dataclass(frozen=True)
class Reconciliation:
    """This billing cycle: what `/teams/spend` says against Σ charged events we hold."""

    cycle_start: date | None
    spend_usd: Decimal
    charged_usd: Decimal
    largest_difference_usd: Decimal
    largest_difference_email: str | None
    members_beyond_tolerance: int

    @property
    def difference_usd(self) -> Decimal:
        return self.charged_usd - self.spend_usd

    def as_details(self, cycle_days_not_ingested: int) -> ReconciliationDetails:
        return {
            "cycle_start": None if self.cycle_start is None else self.cycle_start.isoformat(),
            "spend_usd": str(self.spend_usd),
            "charged_usd": str(self.charged_usd),
            "difference_usd": str(self.difference_usd),
            "largest_difference_usd": str(self.largest_difference_usd),
            "largest_difference_email": self.largest_difference_email,
            "members_beyond_tolerance": self.members_beyond_tolerance,
            "cycle_days_not_ingested": cycle_days_not_ingested,
        }


def reconcile(
    cycle_start: date | None,
    members: Iterable[CursorMemberSpend],
    charged_by_email: Mapping[str, Decimal],
    tolerance_usd: Decimal,
) -> Reconciliation:
    """Per member: Σ charged events since the cycle started against their spend (either
    documented shape); people with events but no spend entry count against zero."""
    spend: dict[str, Decimal] = {}
    for member in members:
        if email := normalize_email(member.email):
            spend[email] = spend.get(email, Decimal(0)) + cents_to_usd(member.total_cents)
    people = set(spend) | {e for e in charged_by_email if not e.startswith(SERVICE_ACCOUNT_PREFIX)}
    largest, largest_email, beyond = Decimal(0), None, 0
    for email in sorted(people):
        difference = abs(charged_by_email.get(email, Decimal(0)) - spend.get(email, Decimal(0)))
        if difference > largest:
            largest, largest_email = difference, email
        beyond += difference > tolerance_usd
    return Reconciliation(
        cycle_start=cycle_start,
        spend_usd=sum(spend.values(), Decimal(0)),
        charged_usd=sum((charged_by_email.get(e, Decimal(0)) for e in people), Decimal(0)),
        largest_difference_usd=largest,
        largest_difference_email=largest_email,
        members_beyond_tolerance=beyond,
    )
