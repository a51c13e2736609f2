"""The organisation's Enterprise Analytics less its seat users' rows, per day and product."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec

from app.config import DEFAULT_CONFIDENCES
from app.upstreams.anthropic.analytics_remainder import REMAINDER, remainder_facts
from app.upstreams.anthropic.claude_ai_models import (
    AnalyticsCostRow,
    AnalyticsOrgCost,
    AnalyticsOrgUsage,
    AnalyticsUsageRow,
)

DAY = date(2026, 8, 3)
ACTOR = {"type": "user_actor", "user_id": "user_1", "email": "jane@example.com"}


def _usage(kind: type, product: str | None, tokens: int, **extra: object) -> object:
    body = {"product": product, "uncached_input_tokens": tokens, "cache_read_input_tokens": 0,
            "output_tokens": 0, "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                                   "ephemeral_1h_input_tokens": 0},
            "requests": 1, **extra}  # fmt: skip
    return msgspec.convert(body, kind)


def test_the_remainder_is_the_organisation_less_its_people_per_product() -> None:
    usage = [_usage(AnalyticsUsageRow, "chat", 100, actor=ACTOR)]
    cost = [msgspec.convert({"actor": ACTOR, "product": "chat", "amount": "30"}, AnalyticsCostRow)]
    org_usage = [_usage(AnalyticsOrgUsage, "chat", 100), _usage(AnalyticsOrgUsage, None, 900)]
    org_cost = [msgspec.convert({"product": "chat", "amount": "30"}, AnalyticsOrgCost),
                msgspec.convert({"product": None, "amount": "250.5"}, AnalyticsOrgCost)]  # fmt: skip
    facts, warnings = remainder_facts(DAY, usage, cost, org_usage, org_cost, DEFAULT_CONFIDENCES)
    assert warnings == []
    [rest] = facts  # chat is all seat users': no remainder row for it
    assert (rest.product, rest.actor_type, rest.user_email) == (None, REMAINDER, None)
    assert (rest.platform, rest.platform_basis) == ("claude_ai", "unattributed_product")
    assert (rest.uncached_input_tokens, rest.requests, rest.cost_usd) == (900, 1, Decimal("2.505"))
    assert rest.attribution_method == "unattributed" and rest.attribution_confidence == 0


def test_people_beyond_the_organisations_report_are_said_and_conserved() -> None:
    usage = [_usage(AnalyticsUsageRow, "claude_code", 500, actor=ACTOR)]
    org_usage = [_usage(AnalyticsOrgUsage, "claude_code", 400)]
    facts, warnings = remainder_facts(DAY, usage, [], org_usage, [], DEFAULT_CONFIDENCES)
    [rest] = facts
    assert rest.platform == "claude_code" and rest.uncached_input_tokens == -100
    assert warnings == [
        "2026-08-03 claude_code: per-person Enterprise Analytics exceed the organisation's"
        " report (uncached); the remainder row is negative"
    ]
