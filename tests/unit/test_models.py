"""Upstream models: what the documents allow in field values."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar

import pytest

from app.ingestion.errors import InvalidBody, MalformedPageError
from app.ingestion.pagination import decode_page
from app.upstreams.anthropic.claude_ai_models import ComplianceActivity
from app.upstreams.anthropic.models import ClaudeCodePage, CostResult, MessagesUsageBucket
from app.upstreams.cursor.models import CursorDailyRow, CursorUsageEvent
from tests.support.pages import decoded

M = TypeVar("M")


def test_a_timestamp_without_offset_is_utc() -> None:
    """Never the host's time zone: a naive timestamp is taken as UTC, explicitly."""
    bucket = decoded(
        MessagesUsageBucket,
        {"starting_at": "2026-08-01T00:00:00", "ending_at": "2026-08-02T00:00:00Z", "results": []},
    )
    assert bucket.starting_at == datetime(2026, 8, 1, tzinfo=UTC)
    assert bucket.starting_at.astimezone(UTC).date().isoformat() == "2026-08-01"


def test_a_removed_members_null_email_is_a_row_not_a_broken_page() -> None:
    counters = dict.fromkeys(
        (
            "totalLinesAdded", "totalLinesDeleted", "acceptedLinesAdded", "acceptedLinesDeleted",
            "totalApplies", "totalAccepts", "totalRejects", "totalTabsShown", "totalTabsAccepted",
            "composerRequests", "chatRequests", "agentRequests", "cmdkUsages",
            "subscriptionIncludedReqs", "apiKeyReqs", "usageBasedReqs", "bugbotUsages",
        ),
        0,
    )  # fmt: skip
    row = decoded(CursorDailyRow, {"email": None, "day": "2026-08-01", **counters})
    assert row.email is None


def test_money_in_a_json_number_is_read_exactly_from_its_text() -> None:
    """Claude Code's `estimated_cost.amount` and Cursor's cents are JSON numbers: no float in
    between, even past a float's 17 significant digits."""
    body = (
        b'{"has_more": false, "data": [{"date": "2026-08-03T00:00:00Z", "customer_type": "api",'
        b' "actor": {"type": "user_actor", "email_address": "a@x.dev"}, "core_metrics": {},'
        b' "model_breakdown": [{"model": "m", "tokens": {"input": 1, "output": 1, "cache_read": 0,'
        b' "cache_creation": 0},'
        b' "estimated_cost": {"currency": "USD", "amount": 123456789012345678.123456789}}]}]}'
    )
    page = decode_page(ClaudeCodePage, body, upstream="u", endpoint="e", where="w")
    [record] = page.data
    assert record.date == date(2026, 8, 3)
    cost = record.model_breakdown[0].estimated_cost
    assert cost is not None and cost.amount == Decimal("123456789012345678.123456789")
    event = decoded(
        CursorUsageEvent, {"timestamp": "1750979225854", "chargedCents": 0.1, "requestsCosts": 1}
    )
    assert (event.timestamp, event.chargedCents) == (1750979225854, Decimal("0.1"))


def test_a_naive_activity_time_is_utc_and_a_bad_row_names_where_it_is() -> None:
    actor = {"type": "user_actor", "email_address": "a@x.dev"}
    activity = decoded(
        ComplianceActivity,
        {"id": "a1", "created_at": "2026-08-01T23:30:00", "type": "t", "actor": actor},
    )
    assert activity.created_at == datetime(2026, 8, 1, 23, 30, tzinfo=UTC)
    with pytest.raises(MalformedPageError, match=r"u e w: malformed page .*\$\.data\[1\]"):
        decoded(
            ClaudeCodePage,
            {"has_more": False, "data": [
                {"date": "2026-08-03", "customer_type": "api", "actor": actor, "core_metrics": {}},
                {"date": "not a day", "customer_type": "api", "actor": actor, "core_metrics": {}},
            ]},
        )  # fmt: skip
    with pytest.raises(InvalidBody):
        decode_page(ClaudeCodePage, b'{"has_more": false, "data": [', upstream="u", endpoint="e",
                    where="w")  # fmt: skip


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_an_amount_that_is_not_a_finite_number_is_a_malformed_page(amount: str) -> None:
    with pytest.raises(MalformedPageError, match="not a finite amount"):
        decoded(CostResult, {"amount": amount, "currency": "USD"})


# Money and token fields that may be absent, each with what its absence means and where the
# row records it. Anything else that names money or tokens must be required: a page without it
# fails, naming the field. None of them defaults to 0.
MAY_BE_ABSENT = {
    ("CursorTokenUsage", "totalCents"): "derived from chargedCents; derived_cost_events",
    ("CursorTokenUsage", "discountPercentOff"): "documented 'if any': no discount",
    ("CursorUsageEvent", "chargedCents"): "derived from tokenUsage; derived_cost_events; "
    "neither fails the page",
    ("CursorUsageEvent", "cursorTokenFee"): "documented: absent for first-party models",
    ("CursorMemberSpend", "spendCents"): "one of spendCents / overallSpendCents is required",
    ("CursorMemberSpend", "overallSpendCents"): "one of spendCents / overallSpendCents",
    ("CursorMemberSpend", "includedSpendCents"): "undocumented; added when sent",
    ("ModelBreakdown", "estimated_cost"): "an estimate, stored NULL (cost_kind says so)",
}
MONEY_OR_TOKENS = re.compile(r"(?i)(cents|cost|amount|spend|tokens?$|^input$|^output$|cache_)")


def test_every_money_and_token_field_is_required_or_its_absence_is_documented() -> None:
    import importlib
    import pkgutil

    import msgspec

    import app.upstreams

    every_model = {
        name: cls
        for info in pkgutil.walk_packages(app.upstreams.__path__, "app.upstreams.")
        if info.name.endswith("models")
        for name, cls in vars(importlib.import_module(info.name)).items()
    }
    checked = 0
    for name, cls in every_model.items():
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
            continue
        for field in msgspec.structs.fields(cls):
            if not MONEY_OR_TOKENS.search(field.name) or "str" in str(field.type):
                continue  # a name, a type, a currency: not an amount
            checked += 1
            required = (
                field.default is msgspec.NODEFAULT and field.default_factory is msgspec.NODEFAULT
            )
            if required:
                continue
            assert field.default is None, f"{name}.{field.name} defaults to {field.default!r}"
            assert (name, field.name) in MAY_BE_ABSENT, f"{name}.{field.name} may be absent: why?"
    assert checked > 20
