"""Folding Cursor usage events and reconciling them with /teams/spend (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.config import DEFAULT_CONFIDENCES
from app.ingestion.pagination import decode_page
from app.processing.attribution import build_directory
from app.upstreams.cursor.models import CursorMemberSpend, CursorUsageEvent, CursorUsageEventsPage
from app.upstreams.cursor.spend import DayTally, reconcile, spend_facts, tally_events

DIRECTORY = build_directory(confidences=DEFAULT_CONFIDENCES)
DAY = date(2025, 6, 26)

# The documented example page, byte for byte (money in JSON numbers, timestamps in strings).
EXAMPLE = b"""{
  "totalUsageEventsCount": 2,
  "pagination": {"numPages": 1, "currentPage": 1, "pageSize": 25,
                 "hasNextPage": false, "hasPreviousPage": false},
  "usageEvents": [
    {"timestamp": "1750979225854", "userEmail": "Developer@Company.com",
     "conversationId": "8f2e4a1b", "model": "claude-4.5-sonnet", "kind": "Usage-based",
     "maxMode": true, "requestsCosts": 5, "isTokenBasedCall": true, "isChargeable": true,
     "isHeadless": false,
     "tokenUsage": {"inputTokens": 126, "outputTokens": 450, "cacheWriteTokens": 6112,
                    "cacheReadTokens": 11964, "totalCents": 20.18232},
     "chargedCents": 21.36232, "cursorTokenFee": 1.18},
    {"timestamp": "1750978339901", "userEmail": "developer@company.com",
     "model": "claude-4-sonnet-thinking", "kind": "Included in Business", "maxMode": true,
     "requestsCosts": 1.4, "isTokenBasedCall": false, "isChargeable": false,
     "isHeadless": true, "chargedCents": 8},
    {"timestamp": "1750978339902", "serviceAccountId": "sa_Ci", "serviceAccountName": "CI",
     "requestsCosts": 1, "isChargeable": true, "isHeadless": true, "chargedCents": 0.5}
  ],
  "period": {"startDate": 1748411762359, "endDate": 1751003762359}
}"""


def _page() -> CursorUsageEventsPage:
    return decode_page(CursorUsageEventsPage, EXAMPLE, upstream="cursor", endpoint="e", where="t")


def test_the_documented_page_folds_to_exact_money_per_person() -> None:
    tally: DayTally = {}
    assert tally_events(_page().usageEvents, tally) == 0
    person, service = spend_facts(DAY, tally, DIRECTORY)
    assert person.email == "developer@company.com" and person.usage_date == DAY
    assert person.charged_cost_usd == Decimal("0.2936232")  # 21.36232 + 8 cents, exact
    assert person.model_cost_usd == Decimal("0.2018232")
    assert person.token_fee_usd == Decimal("0.0118")
    assert person.billable_requests == Decimal("6.4")
    assert (person.usage_events, person.chargeable_events, person.headless_events) == (2, 1, 1)
    assert (person.input_tokens, person.output_tokens) == (126, 450)
    assert (person.cache_write_tokens, person.cache_read_tokens) == (6112, 11964)
    assert (person.attribution_method, person.service_account_id) == ("direct_email", None)
    assert service.email == "service-account:sa_ci"
    assert (service.service_account_id, service.service_account_name) == ("sa_Ci", "CI")
    assert (service.attribution_method, service.charged_cost_usd) == (
        "service_account", Decimal("0.005")
    )  # fmt: skip


def test_an_event_naming_nobody_is_counted_not_folded() -> None:
    event = CursorUsageEvent(
        timestamp=1750979225854, chargedCents=Decimal(3), requestsCosts=Decimal(1)
    )
    tally: DayTally = {}
    assert tally_events([event], tally) == 1 and tally == {}


def test_both_spend_shapes_are_read() -> None:
    newer = CursorMemberSpend(
        email="a@x.dev", spendCents=Decimal("10"), overallSpendCents=Decimal("30.5")
    )
    older = CursorMemberSpend(email="b@x.dev", spendCents=Decimal(40))
    assert (newer.total_cents, older.total_cents) == (Decimal("30.5"), Decimal(40))
    result = reconcile(
        None,
        [newer, older],
        {"a@x.dev": Decimal("0.305"), "b@x.dev": Decimal("0.30")},
        Decimal("0.05"),
    )
    assert result.spend_usd == Decimal("0.705") and result.charged_usd == Decimal("0.605")
    assert (result.largest_difference_usd, result.largest_difference_email) == (
        Decimal("0.10"), "b@x.dev"
    )  # fmt: skip
    assert result.members_beyond_tolerance == 1 and result.difference_usd == Decimal("-0.100")


cents = st.decimals(min_value=0, max_value=10_000, places=5, allow_nan=False)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a@x.dev", "b@x.dev", None]), cents, st.booleans()),
        max_size=40,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_folding_page_by_page_conserves_every_cent(
    events: list[tuple[str | None, Decimal, bool]], page_size: int
) -> None:
    """However the day's events are split into pages, the day's charged total is the sum of
    its events' (named) charges, to the last digit."""
    parsed = [
        CursorUsageEvent(
            timestamp=1750979225854,
            userEmail=email,
            serviceAccountId=None if email or not headless else "sa_1",
            chargedCents=amount,
            requestsCosts=Decimal(1),
            isHeadless=headless,
        )
        for email, amount, headless in events
    ]
    tally: DayTally = {}
    skipped = 0
    for start in range(0, len(parsed), page_size):
        skipped += tally_events(parsed[start : start + page_size], tally)
    facts = spend_facts(DAY, tally, DIRECTORY)
    named = [e for e in parsed if e.userEmail or e.serviceAccountId]
    assert skipped == len(parsed) - len(named)
    assert (
        sum((f.charged_cost_usd for f in facts), Decimal(0))
        == sum((e.chargedCents for e in named), Decimal(0)) / 100
    )
    assert sum(f.usage_events for f in facts) == len(named)
