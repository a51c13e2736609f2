"""Cursor's fact rows as written to `fact_cursor_daily_usage` (column names are the table's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from app.processing.facts import fold, greatest, least


class CursorLabel(StrEnum):
    """The feed a Cursor row's columns came from: the label of its day in `fact_day_digests`
    (a row holds both feeds' columns, each feed owning its own)."""

    DAILY_USAGE = "cursor_daily_usage"
    USAGE_EVENTS = "cursor_usage_events"


@dataclass(slots=True)
class CursorFact:
    usage_date: date
    email: str
    cursor_user_id: str | None
    is_active: bool
    total_lines_added: int
    total_lines_deleted: int
    accepted_lines_added: int
    accepted_lines_deleted: int
    total_applies: int
    total_accepts: int
    total_rejects: int
    total_tabs_shown: int
    total_tabs_accepted: int
    composer_requests: int
    chat_requests: int
    agent_requests: int
    cmdk_usages: int
    subscription_included_reqs: int
    api_key_reqs: int
    usage_based_reqs: int
    bugbot_usages: int
    most_used_model: str | None
    apply_most_used_extension: str | None
    tab_most_used_extension: str | None
    client_version: str | None
    attribution_method: str
    attribution_confidence: Decimal
    in_daily_usage: bool = True  # the daily-usage source reported the person that day

    def key(self) -> tuple[object, ...]:
        return (self.usage_date, self.email)


@dataclass(slots=True)
class CursorSpendFact:
    """The `cursor_spend` source's columns of a `fact_cursor_daily_usage` row: a day's usage
    events folded per person (or per service account). Money in USD, exact."""

    usage_date: date
    email: str  # a person's, or `service-account:<id>` for a service account's row
    charged_cost_usd: Decimal  # Σ chargedCents: what /teams/spend and the dashboard add up
    on_demand_cost_usd: Decimal  # of which billed beyond the plan
    included_cost_usd: Decimal  # of which included in the plan
    model_cost_usd: Decimal  # after the discount: model + token fee = charged (token-based)
    discount_usd: Decimal
    token_fee_usd: Decimal
    derived_cost_events: int  # events whose charged or model cost was derived, not sent
    billable_requests: Decimal
    usage_events: int
    chargeable_events: int
    headless_events: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    service_account_id: str | None
    service_account_name: str | None
    attribution_method: str
    attribution_confidence: Decimal


CURSOR_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CursorFact))
CURSOR_SPEND_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CursorSpendFact))
CURSOR_COUNTERS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(CursorFact) if f.type == "int"
)
CURSOR_DESCRIPTIVE: tuple[str, ...] = (
    "most_used_model",
    "apply_most_used_extension",
    "tab_most_used_extension",
    "client_version",
)


def _merge_cursor(existing: CursorFact, fact: CursorFact) -> None:
    for name in CURSOR_COUNTERS:
        setattr(existing, name, getattr(existing, name) + getattr(fact, name))
    existing.is_active = existing.is_active or fact.is_active
    existing.cursor_user_id = least(existing.cursor_user_id, fact.cursor_user_id)
    for name in CURSOR_DESCRIPTIVE:
        setattr(existing, name, greatest(getattr(existing, name), getattr(fact, name)))
    if fact.attribution_confidence < existing.attribution_confidence:
        existing.attribution_method = fact.attribution_method
        existing.attribution_confidence = fact.attribution_confidence


def fold_cursor_duplicates(facts: Iterable[CursorFact]) -> list[CursorFact]:
    """One row per (day, email): two upstream rows for one person — e.g. the same address in
    two letter cases, or on two pages — are folded, counters added up, nothing lost."""
    return fold(facts, _merge_cursor)
