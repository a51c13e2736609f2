"""Cursor money, checked on Cursor's own example, a live capture and the simulator: charged as
sent, split into billed beyond the plan and included in it; model cost after discount, the
discount kept; model cost + Token Rate = charged for every token-based event; a missing amount
is derived from the documented formula (and counted) or fails the page — never a charge of 0."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import DEFAULT_CONFIDENCES
from app.ingestion.errors import MalformedPageError
from app.ingestion.pagination import decode_page
from app.processing.attribution import build_directory
from app.simulator.model import GroundTruth
from app.upstreams.cursor.models import CursorMemberSpend, CursorUsageEventsPage
from app.upstreams.cursor.spend import DayTally, event_money, spend_facts, tally_events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cursor"
ROUNDING_CENTS = Decimal("0.005")  # the docs show charged cents rounded to 2 places


def _page(body: bytes) -> CursorUsageEventsPage:
    return decode_page(
        CursorUsageEventsPage, body, upstream="cursor", endpoint="filtered-usage-events", where="t"
    )


def _facts(page: CursorUsageEventsPage) -> dict[str, dict[str, object]]:
    day: DayTally = {}
    tally_events(page.usageEvents, day)
    directory = build_directory(confidences=DEFAULT_CONFIDENCES)
    facts = spend_facts(date(2025, 6, 26), day, directory)
    return {fact.email: dataclasses.asdict(fact) for fact in facts}


def test_cursors_own_example_lands_to_the_cent() -> None:
    page = _page((FIXTURES / "usage_events_official.json").read_bytes())
    for event in page.usageEvents:
        money = event_money(event)
        if event.tokenUsage is not None:  # the documented formula, within the docs' rounding
            assert abs(money.model + money.fee - money.charged) <= ROUNDING_CENTS
        assert money.charged == event.chargedCents  # stored as sent, never recomputed
    facts = _facts(page)
    developer, admin = facts["developer@company.com"], facts["admin@company.com"]
    assert developer["charged_cost_usd"] == Decimal("0.5869232")  # 21.36232 + 37.33 cents
    assert developer["on_demand_cost_usd"] == Decimal("0.5869232")
    assert developer["included_cost_usd"] == 0
    assert developer["model_cost_usd"] == Decimal("0.5633262")  # 20.18232 + 40.167 × 0.9
    assert developer["discount_usd"] == Decimal("0.040167")
    assert developer["token_fee_usd"] == Decimal("0.0236")
    assert developer["derived_cost_events"] == 0
    assert admin["charged_cost_usd"] == admin["included_cost_usd"] == Decimal("0.08")
    assert admin["on_demand_cost_usd"] == 0 and admin["model_cost_usd"] == 0


def test_an_included_event_flagged_chargeable_is_included() -> None:
    """Captured from a live account: kind "Included in Business" with `isChargeable: true`."""
    page = _page((FIXTURES / "usage_events_string_null_ids.json").read_bytes())
    facts = _facts(page)
    person = facts["person@example.com"]
    assert person["included_cost_usd"] == person["charged_cost_usd"] == Decimal("0.1468865")
    assert person["on_demand_cost_usd"] == 0


def test_a_missing_charge_is_derived_and_counted_or_fails_the_page() -> None:
    derivable = (
        b'{"pagination": {"hasNextPage": false}, "usageEvents": [{"timestamp": "1", "userEmail":'
        b' "a@x.dev", "kind": "Usage-based", "requestsCosts": 10, "cursorTokenFee": 1.18,'
        b' "tokenUsage": {"inputTokens":'
        b' 1, "outputTokens": 1, "cacheWriteTokens": 0, "cacheReadTokens": 0, "totalCents": 40.167,'
        b' "discountPercentOff": 10}}]}'
    )
    facts = _facts(_page(derivable))
    assert facts["a@x.dev"]["charged_cost_usd"] == Decimal("0.373303")  # 36.1503 + 1.18 cents
    assert facts["a@x.dev"]["derived_cost_events"] == 1
    neither = (
        b'{"pagination": {"hasNextPage": false}, "usageEvents": [{"timestamp": "1",'
        b' "requestsCosts": 1}]}'
    )
    with pytest.raises(MalformedPageError, match="`chargedCents` is missing"):
        _page(neither)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), offset=st.integers(0, 60))
def test_model_cost_after_discount_plus_fee_is_charged_for_every_simulated_event(
    seed: int, offset: int
) -> None:
    truth = GroundTruth(seed=seed, users=6)
    day = date(2026, 7, 1).toordinal() + offset
    events = [truth.render_cursor_event(e) for e in truth.cursor_events(date.fromordinal(day))]
    page = _page(msgspec.json.encode({"pagination": {"hasNextPage": False}, "usageEvents": events}))
    for event in page.usageEvents:
        money = event_money(event)
        if event.tokenUsage is not None:
            assert money.model + money.fee == money.charged


@pytest.mark.parametrize(
    ("member", "total"),
    [
        ({"overallSpendCents": 3200.750456, "spendCents": 1875.500123}, "3200.750456"),
        ({"spendCents": 4212.5, "includedSpendCents": 8000}, "12212.5"),
        ({"spendCents": 950}, "950"),
    ],
)
def test_every_documented_member_spend_shape_gives_the_total(
    member: dict[str, object], total: str
) -> None:
    spend = msgspec.json.decode(msgspec.json.encode(member), type=CursorMemberSpend)
    assert spend.total_cents == Decimal(total)


def test_a_member_without_any_spend_figure_is_an_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="neither `spendCents`"):
        msgspec.json.decode(b'{"email": "a@x.dev"}', type=CursorMemberSpend)


def test_our_keys_are_found_by_their_partial_hint_only() -> None:
    from app.upstreams.anthropic.key_expiry import matches, our_key_expiries
    from app.upstreams.anthropic.models import ApiKey

    ours = "sk-ant-api03-R2D2abcdefghijklmnopqrstuvwxyzigAA"
    assert matches("sk-ant-api03-R2D...igAA", ours)
    assert not matches("sk-ant-api03-R2D...igAB", ours)
    assert not matches("sk-...igAA", ours)  # too short a head to tell keys apart
    assert not matches(None, ours) and not matches("sk-ant-api03-R2DigAA", ours)
    listed = [
        msgspec.convert({"id": "k1", "partial_key_hint": "sk-ant-api03-R2D...igAA",
                         "expires_at": "2026-12-20T00:00:00Z"}, ApiKey),
        msgspec.convert({"id": "k2", "partial_key_hint": "sk-ant-api03-XYZ...zzzz",
                         "expires_at": "2026-12-10T00:00:00Z"}, ApiKey),
        msgspec.convert({"id": "k3", "partial_key_hint": "sk-ant-api03-R2D...igAA"}, ApiKey),
    ]  # fmt: skip
    [found] = our_key_expiries(listed, {"ANTHROPIC_ADMIN_API_KEY": ours})
    assert (found.setting, found.key_id, found.expires_at.isoformat()) == (
        "ANTHROPIC_ADMIN_API_KEY", "k1", "2026-12-20T00:00:00+00:00")  # fmt: skip
