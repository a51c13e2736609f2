"""Cursor and Anthropic clients against respx: paging, chunking, restarts, shapes, money."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from app.ingestion.errors import InvalidCursorError, MalformedPageError
from app.ingestion.http import RequestStats, RetryPolicy, UpstreamHttp
from app.ingestion.money import cents_to_usd
from app.ingestion.pagination import MAX_RESTARTS
from app.ingestion.rate_limit import RateLimiter
from app.ingestion.windows import chunk_window
from app.upstreams.anthropic.client import AnthropicClient, anthropic_headers
from app.upstreams.anthropic.models import CostResult
from app.upstreams.cursor.client import MAX_WINDOW_DAYS, CursorClient, day_end_ms, day_start_ms
from tests.support.pages import cursor_row, decoded

BASE = "https://api.test"


def http(client: httpx.AsyncClient, name: str, **kwargs: Any) -> UpstreamHttp:
    return UpstreamHttp(
        client,
        upstream=name,
        base_url=BASE,
        key_setting="KEY",
        limiter=RateLimiter(60_000),
        concurrency=asyncio.Semaphore(4),
        policy=RetryPolicy(max_attempts=3, base_wait_seconds=0),
        **kwargs,
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


# --- Cursor --------------------------------------------------------------------------------


def test_chunk_window_splits_long_windows_into_30_day_chunks() -> None:
    chunks = list(chunk_window(date(2026, 1, 1), date(2026, 3, 5), MAX_WINDOW_DAYS))
    assert chunks == [
        (date(2026, 1, 1), date(2026, 1, 30)),
        (date(2026, 1, 31), date(2026, 3, 1)),
        (date(2026, 3, 2), date(2026, 3, 5)),
    ]
    assert list(chunk_window(date(2026, 1, 1), date(2026, 1, 1), MAX_WINDOW_DAYS)) == [
        (date(2026, 1, 1),) * 2
    ]


@respx.mock
async def test_cursor_pages_until_has_next_page_is_false_across_chunks(
    client: httpx.AsyncClient,
) -> None:
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        day = date.fromtimestamp(body["startDate"] / 1000).isoformat()
        has_next = body["page"] < 2
        return httpx.Response(
            200,
            json={
                "data": [cursor_row(f"u{body['page']}@x.dev", day)],
                "period": {"startDate": body["startDate"], "endDate": body["endDate"]},
                "pagination": {"page": body["page"], "pageSize": 1, "totalUsers": 2,
                               "totalPages": 2, "hasNextPage": has_next, "hasPreviousPage": False},
            },
        )  # fmt: skip

    respx.post(f"{BASE}/teams/daily-usage-data").mock(side_effect=answer)
    cursor = CursorClient(http(client, "cursor"), page_size=1)
    pages = [
        p async for p in cursor.daily_usage(date(2026, 1, 1), date(2026, 2, 14), RequestStats())
    ]
    assert [(b["page"], b["pageSize"]) for b in bodies] == [(1, 1), (2, 1), (1, 1), (2, 1)]
    assert [b["startDate"] for b in bodies[::2]] == [
        day_start_ms(date(2026, 1, 1)),
        day_start_ms(date(2026, 1, 31)),
    ]
    assert bodies[0]["endDate"] == day_end_ms(date(2026, 1, 30))
    assert bodies[-1]["endDate"] == day_end_ms(date(2026, 2, 14))
    assert [p.last for p in pages] == [False, True, False, True]
    assert pages[1].window == (date(2026, 1, 1), date(2026, 1, 30))


@respx.mock
async def test_cursor_without_pagination_object_is_one_page(client: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/teams/daily-usage-data").mock(
        return_value=httpx.Response(200, json={"data": [cursor_row("a@x.dev", "2026-01-01")]})
    )
    pages = [
        p
        async for p in CursorClient(http(client, "cursor")).daily_usage(
            date(2026, 1, 1), date(2026, 1, 1), RequestStats()
        )
    ]
    assert route.call_count == 1 and len(pages) == 1 and pages[0].last


@respx.mock
async def test_cursor_old_shape_without_day_uses_epoch_ms(client: httpx.AsyncClient) -> None:
    row = {k: v for k, v in cursor_row("a@x.dev", "").items() if k not in ("day", "userId")}
    row["date"] = 1785715200000  # 2026-08-03T00:00Z
    respx.post(f"{BASE}/teams/daily-usage-data").mock(
        return_value=httpx.Response(200, json={"data": [row]})
    )
    pages = [
        p
        async for p in CursorClient(http(client, "cursor")).daily_usage(
            date(2026, 8, 3), date(2026, 8, 3), RequestStats()
        )
    ]
    assert pages[0].items[0].usage_date == date(2026, 8, 3)


@respx.mock
async def test_cursor_missing_required_counter_fails_naming_endpoint_and_page(
    client: httpx.AsyncClient,
) -> None:
    row = cursor_row("a@x.dev", "2026-01-01")
    del row["agentRequests"]
    respx.post(f"{BASE}/teams/daily-usage-data").mock(
        return_value=httpx.Response(200, json={"data": [row]})
    )
    with pytest.raises(MalformedPageError) as caught:
        async for _ in CursorClient(http(client, "cursor")).daily_usage(
            date(2026, 1, 1), date(2026, 1, 1), RequestStats()
        ):
            pass
    message = str(caught.value)
    assert "cursor daily-usage-data 2026-01-01..2026-01-01 page 1: malformed page" in message
    assert "agentRequests" in message


@respx.mock
async def test_cursor_has_next_page_on_an_empty_page_is_an_error(client: httpx.AsyncClient) -> None:
    respx.post(f"{BASE}/teams/daily-usage-data").mock(
        return_value=httpx.Response(
            200, json={"data": [], "pagination": {"hasNextPage": True, "page": 1}}
        )
    )
    with pytest.raises(MalformedPageError, match="hasNextPage is true on an empty page"):
        async for _ in CursorClient(http(client, "cursor")).daily_usage(
            date(2026, 1, 1), date(2026, 1, 1), RequestStats()
        ):
            pass


@respx.mock
async def test_cursor_uses_basic_auth_with_empty_password(client: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/teams/members").mock(
        return_value=httpx.Response(
            200, json={"teamMembers": [{"id": "user_1", "email": "A@x.dev"}]}
        )
    )
    cursor = CursorClient(http(client, "cursor", auth=httpx.BasicAuth("key_abc", "")))
    members = await cursor.members(RequestStats())
    assert members[0].email == "A@x.dev"
    assert route.calls[0].request.headers["authorization"] == "Basic a2V5X2FiYzo="  # key_abc:


# --- Anthropic -----------------------------------------------------------------------------


def usage_result(**overrides: Any) -> dict[str, Any]:
    return {
        "uncached_input_tokens": 10, "cache_creation": {"ephemeral_1h_input_tokens": 1,
        "ephemeral_5m_input_tokens": 2}, "cache_read_input_tokens": 3, "output_tokens": 4,
        "server_tool_use": {"web_search_requests": 0}, "api_key_id": None, "workspace_id": None,
        "model": "m", "service_tier": None, "context_window": None, "inference_geo": None,
        **overrides,
    }  # fmt: skip


def bucket(day: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"starting_at": f"{day}T00:00:00Z", "ending_at": f"{day}T23:59:59Z", "results": results}


@respx.mock
async def test_messages_resends_every_parameter_with_page(client: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/v1/organizations/usage_report/messages").mock(
        side_effect=[
            httpx.Response(200, json={"data": [bucket("2026-08-01", [usage_result()])],
                                      "has_more": True, "next_page": "page_A"}),
            httpx.Response(200, json={"data": [bucket("2026-08-02", [])],
                                      "has_more": True, "next_page": "page_B"}),
            httpx.Response(200, json={"data": [bucket("2026-08-03", [])],
                                      "has_more": False, "next_page": None}),
        ]
    )  # fmt: skip
    anthropic = AnthropicClient(http(client, "anthropic", headers=anthropic_headers("sk-admin")))
    pages = [
        p
        async for p in anthropic.messages_usage(date(2026, 8, 1), date(2026, 8, 3), RequestStats())
    ]
    first, second, third = (query(call.request) for call in route.calls)
    assert ("ending_at", "2026-08-04T00:00:00Z") in first
    assert [v for k, v in first if k == "group_by[]"] == [
        "api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo",
        "account_id", "service_account_id",
    ]  # fmt: skip
    # the documented maximum of daily buckets a page: the fewest requests
    assert ("limit", "31") in first and ("bucket_width", "1d") in first
    assert second == [*first, ("page", "page_A")]
    assert third == [*first, ("page", "page_B")]
    assert [len(p.items) for p in pages] == [1, 1, 1]  # empty buckets are kept
    assert pages[-1].last
    headers = route.calls[0].request.headers
    assert headers["x-api-key"] == "sk-admin" and headers["anthropic-version"] == "2023-06-01"


@respx.mock
async def test_has_more_without_next_page_is_an_error(client: httpx.AsyncClient) -> None:
    respx.get(f"{BASE}/v1/organizations/cost_report").mock(
        return_value=httpx.Response(200, json={"data": [], "has_more": True, "next_page": None})
    )
    anthropic = AnthropicClient(http(client, "anthropic"))
    with pytest.raises(MalformedPageError, match="has_more is true but next_page is empty"):
        async for _ in anthropic.cost_report(date(2026, 8, 1), date(2026, 8, 1), RequestStats()):
            pass


@respx.mock
async def test_rejected_cursor_restarts_the_chain_once(client: httpx.AsyncClient) -> None:
    ok_more = {"data": [], "has_more": True, "next_page": "page_X"}
    done = {"data": [], "has_more": False, "next_page": None}
    invalid = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad cursor"}}
    route = respx.get(f"{BASE}/v1/organizations/usage_report/claude_code").mock(
        side_effect=[
            httpx.Response(200, json=ok_more),
            httpx.Response(400, json=invalid),
            httpx.Response(200, json=ok_more),
            httpx.Response(200, json=done),
        ]
    )
    anthropic = AnthropicClient(http(client, "anthropic"))
    pages = [p async for p in anthropic.claude_code_day(date(2026, 8, 3), RequestStats())]
    assert route.call_count == 4
    assert [p.restarted for p in pages] == [False, True, False]
    assert ("page", "page_X") not in query(route.calls[2].request)


@respx.mock
async def test_a_cursor_rejected_on_every_reading_fails_clearly(
    client: httpx.AsyncClient,
) -> None:
    ok_more = {"data": [], "has_more": True, "next_page": "page_X"}
    invalid = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad cursor"}}
    readings = MAX_RESTARTS + 1
    route = respx.get(f"{BASE}/v1/organizations/usage_report/claude_code").mock(
        side_effect=[httpx.Response(200, json=ok_more), httpx.Response(400, json=invalid)]
        * readings
    )
    anthropic = AnthropicClient(http(client, "anthropic"))
    with pytest.raises(InvalidCursorError, match="HTTP 400: bad cursor"):
        async for _ in anthropic.claude_code_day(date(2026, 8, 3), RequestStats()):
            pass
    assert route.call_count == 2 * readings


@respx.mock
async def test_claude_code_one_chain_per_day_with_limit_1000(client: httpx.AsyncClient) -> None:
    record = {
        "date": "2026-08-03T00:00:00Z", "actor": {"type": "api_actor", "api_key_name": "ci"},
        "organization_id": "org", "customer_type": "api", "terminal_type": "vscode",
        "core_metrics": {"num_sessions": 1, "lines_of_code": {"added": 2, "removed": 1},
                         "commits_by_claude_code": 0, "pull_requests_by_claude_code": 0},
        "tool_actions": {"edit_tool": {"accepted": 1, "rejected": 0}, "new_tool": {"accepted": 2}},
        "model_breakdown": [{"model": "m", "tokens": {"input": 1, "output": 2, "cache_read": 3,
                             "cache_creation": 4}, "estimated_cost": {"currency": "USD", "amount": 186}}],
        "brand_new_field": {"ignored": True},
    }  # fmt: skip
    route = respx.get(f"{BASE}/v1/organizations/usage_report/claude_code").mock(
        return_value=httpx.Response(
            200, json={"data": [record], "has_more": False, "next_page": None}
        )
    )
    anthropic = AnthropicClient(http(client, "anthropic"))
    pages = [p async for p in anthropic.claude_code_day(date(2026, 8, 3), RequestStats())]
    assert query(route.calls[0].request) == [("starting_at", "2026-08-03"), ("limit", "1000")]
    parsed = pages[0].items[0]
    assert parsed.is_remote is None  # a newer field, optional
    assert parsed.tool_actions["new_tool"].rejected == 0
    assert cents_to_usd(parsed.model_breakdown[0].estimated_cost.amount) == Decimal("1.86")  # type: ignore[union-attr]


@respx.mock
async def test_list_endpoints_page_on_last_id(client: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/v1/organizations/users").mock(
        side_effect=[
            httpx.Response(200, json={"data": [{"id": "user_1", "email": "a@x"}], "has_more": True,
                                      "first_id": "user_1", "last_id": "user_1"}),
            httpx.Response(200, json={"data": [{"id": "user_2", "email": "b@x"}], "has_more": False,
                                      "first_id": "user_2", "last_id": "user_2"}),
        ]
    )  # fmt: skip
    users = await AnthropicClient(http(client, "anthropic")).users(RequestStats())
    assert [u.id for u in users] == ["user_1", "user_2"]
    assert ("after_id", "user_1") in query(route.calls[1].request)
    assert ("limit", "1000") in query(route.calls[0].request)


@pytest.mark.parametrize(
    ("amount", "usd"),
    [("123.45", "1.2345"), ("123.78912", "1.2378912"), ("4120.5", "41.205"), ("30", "0.30"),
     ("41280.000000", "412.80"), ("0", "0")],
)  # fmt: skip
def test_cost_report_cents_strings_become_exact_usd(amount: str, usd: str) -> None:
    result = decoded(CostResult, {"amount": amount, "currency": "USD"})
    assert cents_to_usd(result.amount) == Decimal(usd)


def test_money_refuses_floats_and_garbage() -> None:
    with pytest.raises(TypeError):
        cents_to_usd(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cents_to_usd("12 cents")
    with pytest.raises(ValueError):
        cents_to_usd("NaN")


def test_null_counts_and_objects_mean_zero_and_empty_but_missing_still_fails() -> None:
    from app.upstreams.anthropic.models import ClaudeCodeRecord, MessagesUsageResult
    from app.upstreams.cursor.models import CursorDailyRow

    row = decoded(CursorDailyRow, {**cursor_row("a@x.dev", "2026-01-01"), "apiKeyReqs": None})
    assert row.apiKeyReqs == 0
    result = decoded(
        MessagesUsageResult,
        usage_result(cache_creation=None, server_tool_use=None, output_tokens=None),
    )
    assert (result.cache_creation.ephemeral_5m_input_tokens, result.output_tokens) == (0, 0)
    record = decoded(
        ClaudeCodeRecord,
        {
            "date": "2026-08-03", "actor": {"type": "user_actor", "email_address": "a@x.dev"},
            "customer_type": "api", "core_metrics": {"num_sessions": None, "lines_of_code": None},
            "tool_actions": None, "model_breakdown": None,
        },
    )  # fmt: skip
    assert (record.core_metrics.num_sessions, record.tool_actions, record.model_breakdown) == (
        0,
        {},
        [],
    )
    incomplete = cursor_row("a@x.dev", "2026-01-01")
    del incomplete["apiKeyReqs"]
    with pytest.raises(MalformedPageError, match="apiKeyReqs"):
        decoded(CursorDailyRow, incomplete)


@respx.mock
async def test_a_cursor_user_count_that_two_readings_repeat_is_accepted_with_a_warning(
    client: httpx.AsyncClient,
) -> None:
    """`totalUsers` may count members the pages do not list (the documents do not say): a
    mismatch two readings repeat exactly is not churn; it is accepted and said."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        has_next = body["page"] < 2
        return httpx.Response(
            200,
            json={
                "data": [cursor_row(f"u{body['page']}@x.dev", "2026-01-01")],
                "pagination": {"page": body["page"], "pageSize": 1, "totalUsers": 3,
                               "totalPages": 2, "hasNextPage": has_next, "hasPreviousPage": False},
            },
        )  # fmt: skip

    route = respx.post(f"{BASE}/teams/daily-usage-data").mock(side_effect=answer)
    cursor = CursorClient(http(client, "cursor"), page_size=1)
    pages = [
        p async for p in cursor.daily_usage(date(2026, 1, 1), date(2026, 1, 1), RequestStats())
    ]
    assert route.call_count == 4  # two readings of two pages
    assert [p.restarted for p in pages] == [False, True, False]
    assert pages[-1].last and pages[-1].warning is not None
    assert (
        "2 distinct users read, pagination.totalUsers said 3 in two readings" in pages[-1].warning
    )


@respx.mock
async def test_a_large_cursor_page_is_handed_on_in_parts_and_read_whole(
    client: httpx.AsyncClient,
) -> None:
    """A page at the documented size is validated part by part (its body, not 100 MB of
    rows, in memory): every row arrives once, parts after the first say they continue the
    page, and only the last part of the last page ends the chunk."""
    from app.ingestion.streamed import ITEMS_PER_PART

    people = ITEMS_PER_PART + 500
    days = ("2026-01-01", "2026-01-02")

    def answer(request: httpx.Request) -> httpx.Response:
        page = json.loads(request.content)["page"]
        emails = [f"u{n}@x.dev" for n in range(people)] if page == 1 else ["last@x.dev"]
        return httpx.Response(
            200,
            json={
                # the envelope before and after the rows, as the documents do not fix the order
                "pagination": {"page": page, "pageSize": people, "totalUsers": people + 1,
                               "totalPages": 2, "hasNextPage": page == 1},
                "data": [{**cursor_row(email, day), "userId": email}
                         for email in emails for day in days],
                "period": {"startDate": 0, "endDate": 1},
            },
        )  # fmt: skip

    respx.post(f"{BASE}/teams/daily-usage-data").mock(side_effect=answer)
    stats = RequestStats()
    pages = [
        p
        async for p in CursorClient(http(client, "cursor"), page_size=people).daily_usage(
            date(2026, 1, 1), date(2026, 1, 2), stats
        )
    ]
    assert stats.requests == 2
    assert [len(p.items) for p in pages] == [ITEMS_PER_PART, ITEMS_PER_PART, 1000, 2]
    assert [(p.number, p.continued, p.last) for p in pages] == [
        (1, False, False), (1, True, False), (1, True, False), (2, False, True),
    ]  # fmt: skip
    rows = [(row.email, row.usage_date) for p in pages for row in p.items]
    assert len(rows) == len(set(rows)) == (people + 1) * 2


@respx.mock
async def test_a_garbled_cursor_page_is_read_again(client: httpx.AsyncClient) -> None:
    good = {"data": [cursor_row("a@x.dev", "2026-01-01")]}
    route = respx.post(f"{BASE}/teams/daily-usage-data").mock(
        side_effect=[
            httpx.Response(200, content=b'{"data": [{"email": "a@x.dev", '),
            httpx.Response(200, json=good),
        ]
    )
    pages = [
        p
        async for p in CursorClient(http(client, "cursor")).daily_usage(
            date(2026, 1, 1), date(2026, 1, 1), RequestStats()
        )
    ]
    assert route.call_count == 2 and [len(p.items) for p in pages] == [1]


@respx.mock
async def test_a_large_page_waits_on_disk_and_its_file_is_closed_once_taken(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Cursor page past SPOOL_IN_MEMORY_BYTES is written to a temporary file as it arrives
    (not held in memory while the rows before it are processed); decoding it cuts its rows,
    still JSON, into parts on another file, which is read one part at a time and closed once
    its last part is taken."""
    import tempfile

    from app.ingestion import bounds as upstream_http
    from app.ingestion import streamed

    files: list[tempfile.SpooledTemporaryFile[bytes]] = []

    class Recorded(upstream_http.CountedSpool):
        def __init__(self, budget: upstream_http.SpoolBudget, *, dir: str) -> None:
            super().__init__(budget, dir=dir)
            files.append(self)

    monkeypatch.setattr(upstream_http, "CountedSpool", Recorded)
    monkeypatch.setattr(upstream_http, "SPOOL_IN_MEMORY_BYTES", 10_000)
    monkeypatch.setattr(streamed, "SPOOL_IN_MEMORY_BYTES", 10_000)
    monkeypatch.setattr(streamed, "ITEMS_PER_PART", 120)
    rows = [cursor_row(f"u{n}@x.dev", "2026-01-01") for n in range(300)]
    respx.post(f"{BASE}/teams/daily-usage-data").mock(
        return_value=httpx.Response(200, json={"data": rows})
    )
    taken, parts = [], []
    async for page in CursorClient(http(client, "cursor")).daily_usage(
        date(2026, 1, 1), date(2026, 1, 1), RequestStats()
    ):
        body, cut = files  # the body as it arrived, and its rows cut into parts
        assert body._rolled and body.closed  # it was on disk, and is done with once cut
        assert cut._rolled  # the parts wait on disk too
        taken += [row.email for row in page.items]
        parts.append((len(page.items), cut.closed))
    assert taken == [row["email"] for row in rows]
    # Closed once the last part is read (the last part is known as such by then).
    assert parts == [(120, False), (120, False), (60, True)]
    assert all(file.closed for file in files)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@respx.mock
async def test_a_captured_event_with_a_string_null_service_account_is_the_persons(
    client: httpx.AsyncClient,
) -> None:
    """tests/fixtures/README.md: a live account's event says `"serviceAccountId": "null"`; it
    is the person's, charged as sent."""
    from app.upstreams.cursor.spend import identity_of

    page = json.loads((FIXTURES / "cursor" / "usage_events_string_null_ids.json").read_text())
    respx.post(f"{BASE}/teams/filtered-usage-events").mock(
        return_value=httpx.Response(200, json=page)
    )
    day = date(2026, 6, 18)  # 1781804248151 ms
    events = [
        event
        async for chunk in CursorClient(http(client, "cursor")).usage_events(day, RequestStats())
        for event in chunk.items
    ]
    [event] = events
    assert event.serviceAccountId is None and event.serviceAccountName is None
    assert identity_of(event) == "person@example.com"
    assert event.chargedCents == Decimal("14.68865")
