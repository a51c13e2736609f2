"""The Copilot client against respx: GitHub's published examples through the real client, and
every documented way a day's report is missing, a link expires, a limit answers 403, or a
money field is absent."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from app.config import DEFAULT_CONFIDENCES, load_settings
from app.ingestion.errors import MalformedPageError, UpstreamError
from app.ingestion.factory import HttpParts
from app.ingestion.http import RequestStats
from app.upstreams.copilot.client import CopilotClient, NoReport, build_client
from app.upstreams.copilot.facts import billing_facts, seat_rows, usage_facts
from app.upstreams.copilot.identity import LoginDirectory

pytestmark = pytest.mark.reliability  # rows of the fault matrix (docs/reliability.md)
BASE = "https://api.github.test"
FILES = "https://files.example/report"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "copilot"
DAY = date(2025, 10, 1)
REPORT = f"{BASE}/orgs/acme/copilot/metrics/reports/users-1-day"


@pytest.fixture
async def copilot() -> AsyncIterator[CopilotClient]:
    """The client as the service builds it (its headers, its second channel for the links)."""
    settings = load_settings(
        github_token="ghp_test0123456789abcdef", github_organization="acme",
        github_api_base_url=BASE, upstream_retry_base_seconds=0, upstream_max_attempts=3,
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        built = build_client(settings, HttpParts(client, settings))
        assert built is not None
        yield built


def _links(*links: str) -> httpx.Response:
    return httpx.Response(200, json={"download_links": list(links), "report_day": str(DAY)})


@respx.mock
async def test_the_docs_example_becomes_one_row_with_unknown_credits(
    copilot: CopilotClient,
) -> None:
    respx.get(REPORT).mock(return_value=_links(FILES))
    file = respx.get(FILES).mock(
        return_value=httpx.Response(
            200, content=(FIXTURES / "users_1_day_docs_example.json").read_bytes()
        )
    )
    records = await copilot.user_day_report(DAY, RequestStats())
    assert "authorization" not in file.calls[0].request.headers  # the token stays with GitHub
    (fact,), skipped = usage_facts(DAY, records, LoginDirectory(DEFAULT_CONFIDENCES))
    assert skipped == 0
    assert (fact.user_id, fact.user_login, fact.email, fact.attribution_method) == (
        1, "login1", None, "unattributed",
    )  # fmt: skip
    assert (fact.code_generation_activity_count, fact.loc_added_sum, fact.loc_suggested_to_add_sum) == (
        1, 8, 10,
    )  # fmt: skip
    assert (fact.cli_sessions, fact.cli_prompt_tokens, fact.cli_output_tokens) == (2, 3800, 5000)
    assert fact.ides == "vscode" and fact.entity_id == "1"
    assert fact.ai_credits_used is None  # the report predates the figure: unknown, not 0
    assert fact.ai_adoption_phase is None
    assert json.loads(fact.breakdowns or "")["totals_by_feature"][0]["feature"] == "code_completion"


@respx.mock
async def test_the_current_shape_in_ndjson_shards(copilot: CopilotClient) -> None:
    line = (FIXTURES / "users_1_day_current.ndjson").read_bytes()
    second = json.loads(line) | {"user_id": 2, "user_login": "login2", "ai_credits_used": 0}
    respx.get(REPORT).mock(return_value=_links(f"{FILES}/1", f"{FILES}/2"))
    respx.get(f"{FILES}/1").mock(return_value=httpx.Response(200, content=line))
    respx.get(f"{FILES}/2").mock(
        return_value=httpx.Response(200, content=b"\n" + json.dumps(second).encode() + b"\n\n")
    )
    records = await copilot.user_day_report(DAY, RequestStats())
    facts, _ = usage_facts(DAY, records, LoginDirectory(DEFAULT_CONFIDENCES))
    assert [(f.user_id, f.ai_credits_used, f.ai_adoption_phase) for f in facts] == [
        (1, Decimal("12.5"), 2), (2, Decimal(0), 2),
    ]  # fmt: skip
    assert facts[0].used_cloud_agent is False
    assert "totals_by_3rd_party_agent" in (facts[0].breakdowns or "")


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(204), httpx.Response(200, content=b'""'), httpx.Response(200, content=b"null"),
     httpx.Response(404, json={"message": "Not Found"})],
    ids=["204", "empty-string", "null", "404"],
)  # fmt: skip
@respx.mock
async def test_a_day_without_a_report_is_said_so(
    copilot: CopilotClient, answer: httpx.Response
) -> None:
    respx.get(REPORT).mock(return_value=answer)
    with pytest.raises(NoReport) as raised:
        await copilot.user_day_report(DAY, RequestStats())
    assert str(answer.status_code) in raised.value.why


@respx.mock
async def test_an_expired_link_is_asked_for_again_once(copilot: CopilotClient) -> None:
    metadata = respx.get(REPORT).mock(side_effect=[_links(f"{FILES}/old"), _links(f"{FILES}/new")])
    expired = b"<Error><Code>AuthenticationFailed</Code></Error>"
    respx.get(f"{FILES}/old").mock(return_value=httpx.Response(403, content=expired))
    respx.get(f"{FILES}/new").mock(
        return_value=httpx.Response(
            200, content=(FIXTURES / "users_1_day_current.ndjson").read_bytes()
        )
    )
    assert len(await copilot.user_day_report(DAY, RequestStats())) == 1
    assert metadata.call_count == 2


@respx.mock
async def test_a_link_that_stays_expired_fails_naming_it(copilot: CopilotClient) -> None:
    respx.get(REPORT).mock(return_value=_links(FILES))
    respx.get(FILES).mock(return_value=httpx.Response(403, content=b"expired"))
    with pytest.raises(UpstreamError, match="rejected the report's signed download link"):
        await copilot.user_day_report(DAY, RequestStats())


@respx.mock
async def test_metrics_disabled_is_the_upstreams_message(copilot: CopilotClient) -> None:
    message = "Copilot Usage Metrics API access is disabled for this organization."
    respx.get(REPORT).mock(return_value=httpx.Response(403, json={"message": message}))
    with pytest.raises(UpstreamError) as raised:
        await copilot.user_day_report(DAY, RequestStats())
    assert str(raised.value) == f"copilot rejected GITHUB_TOKEN (HTTP 403: {message})"


@respx.mock
async def test_a_403_that_is_a_rate_limit_is_waited_for(copilot: CopilotClient) -> None:
    limited = httpx.Response(
        403,
        json={"message": "API rate limit exceeded"},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()))},
    )
    respx.get(REPORT).mock(side_effect=[limited, _links()])
    stats = RequestStats()
    assert await copilot.user_day_report(DAY, stats) == []
    assert stats.rate_limit_waits == 1


@respx.mock
async def test_a_bad_line_fails_the_file_naming_the_line(copilot: CopilotClient) -> None:
    good = (FIXTURES / "users_1_day_current.ndjson").read_bytes().strip()
    respx.get(REPORT).mock(return_value=_links(FILES))
    respx.get(FILES).mock(
        return_value=httpx.Response(200, content=good + b'\n{"day": "2025-10-01"}\n')
    )
    with pytest.raises(MalformedPageError, match=r"line 2"):
        await copilot.user_day_report(DAY, RequestStats())


def test_a_record_without_user_id_is_skipped_and_counted_one_without_login_kept() -> None:
    record = json.loads((FIXTURES / "users_1_day_current.ndjson").read_bytes())
    from app.upstreams.copilot.client import parse_user_report

    no_login = {k: v for k, v in record.items() if k != "user_login"} | {"user_id": 3}
    lines = [record, record | {"user_id": None}, no_login]
    records = parse_user_report("\n".join(json.dumps(r) for r in lines).encode(), "test")
    facts, skipped = usage_facts(DAY, records, LoginDirectory(DEFAULT_CONFIDENCES))
    assert skipped == 1  # no user id: nothing to key it by
    assert [(f.user_id, f.user_login) for f in facts] == [(1, "login1"), (3, None)]  # kept


@respx.mock
async def test_seats_follow_pages_a_capped_per_page_shortens(copilot: CopilotClient) -> None:
    def seat(user_id: int) -> dict[str, object]:
        return {
            "created_at": "2026-01-02T03:04:05Z",
            "assignee": {"login": f"u{user_id}", "id": user_id},
        }

    route = respx.get(f"{BASE}/orgs/acme/copilot/billing/seats").mock(side_effect=[
        httpx.Response(200, json={"total_seats": 3, "seats": [seat(1), seat(2)]}),
        httpx.Response(200, json={"total_seats": 3, "seats": [seat(3)]}),
    ])  # fmt: skip
    pages = [page async for page in copilot.seats(RequestStats())]
    assert [s.assignee.id for p in pages for s in p.items if s.assignee] == [1, 2, 3]
    assert pages[-1].last and pages[-1].warning is None
    assert route.calls[0].request.url.params["per_page"] == "100"


@respx.mock
async def test_the_billing_example_is_billed_money_to_the_cent(copilot: CopilotClient) -> None:
    day = date(2026, 6, 3)
    respx.get(f"{BASE}/organizations/acme/settings/billing/ai_credit/usage").mock(
        return_value=httpx.Response(
            200, content=(FIXTURES / "ai_credit_usage_go_github.json").read_bytes()
        )
    )
    items = await copilot.billing_usage(day, "testuser", RequestStats())
    (line,) = billing_facts(day, [], [(7, "testuser", items)], LoginDirectory(DEFAULT_CONFIDENCES))
    assert (line.price_per_unit_usd, line.gross_amount_usd, line.net_amount_usd) == (
        Decimal("0.01"), Decimal("1.0"), Decimal("1.0"),
    )  # fmt: skip
    assert line.line_key == "testuser|copilot|copilot ai credits|GPT-5"


@respx.mock
async def test_a_billing_line_without_its_net_amount_fails(copilot: CopilotClient) -> None:
    body = json.loads((FIXTURES / "ai_credit_usage_go_github.json").read_bytes())
    del body["usageItems"][0]["netAmount"]
    respx.get(f"{BASE}/organizations/acme/settings/billing/ai_credit/usage").mock(
        return_value=httpx.Response(200, json=body)
    )
    with pytest.raises(MalformedPageError, match="netAmount"):
        await copilot.billing_usage(date(2026, 6, 3), None, RequestStats())


@respx.mock
async def test_premium_requests_before_june_2026(copilot: CopilotClient) -> None:
    route = respx.get(f"{BASE}/organizations/acme/settings/billing/premium_request/usage").mock(
        return_value=httpx.Response(200, json={"usageItems": []})
    )
    assert await copilot.billing_usage(date(2026, 5, 31), None, RequestStats()) == []
    assert dict(route.calls[0].request.url.params) == {"year": "2026", "month": "5", "day": "31"}


@respx.mock
async def test_a_secondary_rate_limit_403_with_retry_after_is_waited_for(
    copilot: CopilotClient,
) -> None:
    limited = httpx.Response(
        403,
        json={"message": "You have exceeded a secondary rate limit."},
        headers={"retry-after": "0"},
    )
    route = respx.get(REPORT).mock(side_effect=[limited, limited, _links()])
    assert await copilot.user_day_report(DAY, RequestStats()) == []
    assert route.call_count == 3


@respx.mock
async def test_githubs_seat_example_becomes_two_seats(copilot: CopilotClient) -> None:
    respx.get(f"{BASE}/orgs/acme/copilot/billing/seats").mock(
        return_value=httpx.Response(
            200, content=(FIXTURES / "seats_github_example.json").read_bytes()
        )
    )
    pages = [page async for page in copilot.seats(RequestStats())]
    assert pages[-1].warning is None  # two seats listed, two stated
    rows = seat_rows([s for p in pages for s in p.items], LoginDirectory(DEFAULT_CONFIDENCES))
    assert [(r.user_login, r.created_at, r.assigning_team, r.pending_cancellation_date)
            for r in rows] == [
        ("octocat", datetime(2021, 8, 4, tzinfo=UTC), "justice-league", None),
        ("octokitten", datetime(2021, 9, 24, tzinfo=UTC), None, date(2021, 11, 1)),
    ]  # fmt: skip
    assert rows[0].last_activity_editor == "vscode/1.77.3/copilot/1.86.82"


def test_a_seat_of_a_team_or_a_deleted_user_is_not_a_person() -> None:
    import msgspec

    from app.upstreams.copilot.models import SeatsPage

    page = msgspec.json.decode(
        json.dumps({"total_seats": 3, "seats": [
            {"created_at": "2026-01-02T00:00:00Z", "assignee": {"login": "mona", "id": 7}},
            {"created_at": "2026-01-02T00:00:00Z", "assignee": None},
            {"created_at": "2026-01-02T00:00:00Z",
             "assignee": {"id": 3, "slug": "justice-league", "type": "Team"}},
        ]}).encode(),
        type=SeatsPage,
    )  # fmt: skip
    rows = seat_rows(page.seats, LoginDirectory(DEFAULT_CONFIDENCES))
    assert [(r.user_id, r.user_login) for r in rows] == [(7, "mona")]


@respx.mock
async def test_a_seat_list_short_of_its_total_is_said_so(copilot: CopilotClient) -> None:
    """Seats changed while the pages were read: the list is not whole (no seat is then marked
    removed by the source)."""
    seat = {"created_at": "2026-01-02T03:04:05Z", "assignee": {"login": "u1", "id": 1}}
    respx.get(f"{BASE}/orgs/acme/copilot/billing/seats").mock(side_effect=[
        httpx.Response(200, json={"total_seats": 3, "seats": [seat]}),
        httpx.Response(200, json={"total_seats": 3, "seats": []}),
    ])  # fmt: skip
    pages = [page async for page in copilot.seats(RequestStats())]
    assert pages[-1].last
    assert pages[-1].warning == "the seat list said 3 seats and listed 1"
