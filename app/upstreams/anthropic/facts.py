"""Claude's fact rows as written to `fact_claude_daily_usage` (column names are the table's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from app.processing.facts import FactTable, add, fold

Platform = Literal["claude_code", "claude_api", "claude_ai"]


class ClaudeLabel(StrEnum):
    """The feed a `fact_claude_daily_usage` row came from (its `source` column, and the label of
    its day in `fact_day_digests`); the table's CHECK admits exactly these (a schema test)."""

    CLAUDE_CODE_ANALYTICS = "claude_code_analytics"
    USAGE_REPORT = "usage_report"
    COST_REPORT = "cost_report"
    CLAUDE_AI_ACTIVITY = "claude_ai_activity"
    CLAUDE_AI_ANALYTICS = "claude_ai_analytics"


CostKind = Literal["reported", "estimated", "allocated"]


@dataclass(slots=True)
class ClaudeFact:
    usage_date: date
    platform: Platform
    source: ClaudeLabel
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
    # The rule that placed the row on its platform (app.upstreams.anthropic.categorization).
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

    def key(self) -> tuple[object, ...]:
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


CLAUDE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ClaudeFact))
# Its rows are told apart by `source` (the label); `grain_key`, generated from the grain with
# the label in it, is unique within a day.
CLAUDE_FACT_TABLE = FactTable("fact_claude_daily_usage", CLAUDE_COLUMNS, key="grain_key")


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


def _merge_claude(existing: ClaudeFact, fact: ClaudeFact) -> None:
    for name in ADDITIVE_CLAUDE_FIELDS:
        setattr(existing, name, add(getattr(existing, name), getattr(fact, name)))
    existing.cost_kind = existing.cost_kind or fact.cost_kind
    if fact.attribution_confidence < existing.attribution_confidence:
        existing.attribution_method = fact.attribution_method
        existing.attribution_confidence = fact.attribution_confidence
        existing.user_email = fact.user_email


def fold_duplicates(facts: Iterable[ClaudeFact]) -> list[ClaudeFact]:
    """One row per grain: rows an upstream split (pages, undocumented dimensions) are
    added up, so the upsert never sees a key twice and nothing is lost."""
    return fold(facts, _merge_claude)
