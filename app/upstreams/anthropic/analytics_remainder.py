"""Enterprise Analytics: what the organisation used beyond its seat users (pure, no I/O).

The per-user reports hold only usage "attributable to a seat user"; the organisation's
bucketed reports hold everything, direct API-key and automation traffic included. Per day and
product, the difference is written as one explicit row — `actor_type` `organization_remainder`,
nobody's, unattributed — so that per-person rows plus the remainder equal what the
organisation used and pays, as the Admin cost report's residual rows do for the Console.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.ingestion.money import cents_to_usd
from app.processing.attribution import UNATTRIBUTED
from app.upstreams.anthropic.categorization import WorkspaceCategories, placement
from app.upstreams.anthropic.claude_ai_models import (
    AnalyticsCostRow,
    AnalyticsOrgCost,
    AnalyticsOrgUsage,
    AnalyticsUsageRow,
)
from app.upstreams.anthropic.facts import ClaudeFact, ClaudeLabel

REMAINDER = "organization_remainder"  # actor_type of a remainder row
_COUNTS = ("uncached", "cache_5m", "cache_1h", "cache_read", "output", "web_search", "requests")


@dataclass
class _Totals:
    uncached: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    cache_read: int = 0
    output: int = 0
    web_search: int = 0
    requests: int = 0
    cents: Decimal = Decimal(0)

    def add_usage(self, row: AnalyticsUsageRow | AnalyticsOrgUsage, sign: int = 1) -> None:
        self.uncached += sign * row.uncached_input_tokens
        self.cache_5m += sign * row.cache_creation.ephemeral_5m_input_tokens
        self.cache_1h += sign * row.cache_creation.ephemeral_1h_input_tokens
        self.cache_read += sign * row.cache_read_input_tokens
        self.output += sign * row.output_tokens
        web = row.server_tool_use.web_search_requests if row.server_tool_use else 0
        self.web_search += sign * web
        self.requests += sign * row.requests

    def is_zero(self) -> bool:
        return not self.cents and not any(getattr(self, name) for name in _COUNTS)

    def negative(self) -> list[str]:
        named = [name for name in _COUNTS if getattr(self, name) < 0]
        return named + (["cost"] if self.cents < 0 else [])


def remainder_facts(
    day: date,
    usage: Iterable[AnalyticsUsageRow],
    cost: Iterable[AnalyticsCostRow],
    org_usage: Iterable[AnalyticsOrgUsage],
    org_cost: Iterable[AnalyticsOrgCost],
    confidences: Mapping[str, Decimal],
) -> tuple[list[ClaudeFact], list[str]]:
    """Per product: the organisation's totals less the per-person rows' (rows and warnings).
    A negative part (the two reports read at different refreshes, say) is written as it is —
    conservation holds — and said."""
    left: dict[str | None, _Totals] = {}
    for org_row in org_usage:
        left.setdefault(org_row.product, _Totals()).add_usage(org_row)
    for org_cost_row in org_cost:
        left.setdefault(org_cost_row.product, _Totals()).cents += org_cost_row.amount
    for row in usage:
        left.setdefault(row.product, _Totals()).add_usage(row, -1)
    for cost_row in cost:
        left.setdefault(cost_row.product, _Totals()).cents -= cost_row.amount
    facts, warnings = [], []
    for product, rest in sorted(left.items(), key=lambda item: item[0] or ""):
        if rest.is_zero():
            continue
        if below := rest.negative():
            warnings.append(
                f"{day} {product or 'no product'}: per-person Enterprise Analytics exceed the"
                f" organisation's report ({', '.join(below)}); the remainder row is negative"
            )
        facts.append(_fact(day, product, rest, confidences))
    return facts, warnings


def _fact(
    day: date, product: str | None, rest: _Totals, confidences: Mapping[str, Decimal]
) -> ClaudeFact:
    platform, basis = placement(
        ClaudeLabel.CLAUDE_AI_ANALYTICS, None, WorkspaceCategories(frozenset()), product=product
    )
    return ClaudeFact(
        usage_date=day,
        platform=platform,
        platform_basis=basis,
        source=ClaudeLabel.CLAUDE_AI_ANALYTICS,
        product=product,
        actor_type=REMAINDER,
        attribution_method=UNATTRIBUTED,
        attribution_confidence=confidences[UNATTRIBUTED],
        uncached_input_tokens=rest.uncached,
        cache_creation_5m_input_tokens=rest.cache_5m,
        cache_creation_1h_input_tokens=rest.cache_1h,
        cache_creation_input_tokens=rest.cache_5m + rest.cache_1h,
        cache_read_input_tokens=rest.cache_read,
        output_tokens=rest.output,
        web_search_requests=rest.web_search,
        requests=rest.requests,
        cost_usd=cents_to_usd(rest.cents),
        cost_kind="reported",
    )
