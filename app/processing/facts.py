"""Fact rows as written to PostgreSQL (column names are the table's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, TypeVar

Platform = Literal["claude_code", "claude_api", "claude_ai"]
ClaudeSource = Literal[
    "claude_code_analytics",
    "usage_report",
    "cost_report",
    "claude_ai_activity",
    "claude_ai_analytics",
]
CostKind = Literal["reported", "estimated", "allocated"]


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

    def key(self) -> tuple[Any, ...]:
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


@dataclass(slots=True)
class ClaudeFact:
    usage_date: date
    platform: Platform
    source: ClaudeSource
    attribution_method: str
    attribution_confidence: Decimal
    user_email: str | None = None
    actor_type: str | None = None
    actor_name: str | None = None
    api_key_id: str | None = None
    # OAuth traffic (`user_…`) and OIDC federation (`svac_…`) in the messages report.
    account_id: str | None = None
    service_account_id: str | None = None
    workspace_id: str | None = None
    # Enterprise Analytics product (`chat`, `claude_code`, `cowork`, …).
    product: str | None = None
    model: str | None = None
    customer_type: str | None = None
    terminal_type: str | None = None
    is_remote: bool | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    cost_description: str | None = None
    cost_type: str | None = None
    token_type: str | None = None
    uncached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_5m_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    web_search_requests: int = 0
    requests: int | None = None
    cost_usd: Decimal | None = None
    cost_kind: CostKind | None = None
    # How an allocated or residual cost was placed (app.processing.cost_allocation levels).
    allocation_basis: str | None = None
    # The rule that placed the row on its platform (app.processing.categorization).
    platform_basis: str | None = None
    sessions: int | None = None
    lines_added: int | None = None
    lines_removed: int | None = None
    commits: int | None = None
    pull_requests: int | None = None
    tool_accepted: int | None = None
    tool_rejected: int | None = None
    activity_count: int | None = None
    chats_created: int | None = None
    projects_created: int | None = None
    files_uploaded: int | None = None

    def key(self) -> tuple[Any, ...]:
        """The grain (mirrors the table's generated `grain_key`)."""
        return (
            self.usage_date,
            self.source,
            self.actor_type,
            self.actor_name,
            self.api_key_id,
            self.workspace_id,
            self.model,
            self.customer_type,
            self.terminal_type,
            self.is_remote,
            self.service_tier,
            self.context_window,
            self.inference_geo,
            self.cost_description,
            self.cost_type,
            self.token_type,
            self.account_id,
            self.service_account_id,
            self.product,
        )


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
CLAUDE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ClaudeFact))


ADDITIVE_CLAUDE_FIELDS: tuple[str, ...] = (
    "uncached_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
    "requests",
    "cost_usd",
    "sessions",
    "lines_added",
    "lines_removed",
    "commits",
    "pull_requests",
    "tool_accepted",
    "tool_rejected",
    "activity_count",
    "chats_created",
    "projects_created",
    "files_uploaded",
)


def _add(left: Any, right: Any) -> Any:
    if left is None:
        return right
    if right is None:
        return left
    return left + right


F = TypeVar("F", ClaudeFact, CursorFact)


def _fold(facts: Iterable[F], merge: Callable[[F, F], None]) -> list[F]:
    """One fact per key, in first-seen order; `merge` adds a later duplicate into the first."""
    folded: dict[tuple[Any, ...], F] = {}
    for fact in facts:
        existing = folded.setdefault(fact.key(), fact)
        if existing is not fact:
            merge(existing, fact)
    return list(folded.values())


def _merge_claude(existing: ClaudeFact, fact: ClaudeFact) -> None:
    for name in ADDITIVE_CLAUDE_FIELDS:
        setattr(existing, name, _add(getattr(existing, name), getattr(fact, name)))
    existing.cost_kind = existing.cost_kind or fact.cost_kind
    if fact.attribution_confidence < existing.attribution_confidence:
        existing.attribution_method = fact.attribution_method
        existing.attribution_confidence = fact.attribution_confidence
        existing.user_email = fact.user_email


def fold_duplicates(facts: Iterable[ClaudeFact]) -> list[ClaudeFact]:
    """One row per grain: rows an upstream split (pages, undocumented dimensions) are
    added up, so the upsert never sees a key twice and nothing is lost."""
    return _fold(facts, _merge_claude)


def _least(left: Any, right: Any) -> Any:
    return right if left is None else left if right is None else min(left, right)


def _greatest(left: Any, right: Any) -> Any:
    return right if left is None else left if right is None else max(left, right)


def _merge_cursor(existing: CursorFact, fact: CursorFact) -> None:
    for name in CURSOR_COUNTERS:
        setattr(existing, name, getattr(existing, name) + getattr(fact, name))
    existing.is_active = existing.is_active or fact.is_active
    existing.cursor_user_id = _least(existing.cursor_user_id, fact.cursor_user_id)
    for name in CURSOR_DESCRIPTIVE:
        setattr(existing, name, _greatest(getattr(existing, name), getattr(fact, name)))
    if fact.attribution_confidence < existing.attribution_confidence:
        existing.attribution_method = fact.attribution_method
        existing.attribution_confidence = fact.attribution_confidence


def fold_cursor_duplicates(facts: Iterable[CursorFact]) -> list[CursorFact]:
    """One row per (day, email): two upstream rows for one person — e.g. the same address in
    two letter cases, or on two pages — are folded, counters added up, nothing lost."""
    return _fold(facts, _merge_cursor)
