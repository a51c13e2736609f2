"""The shared retry / rate-limit policy, with respx standing in for the upstreams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from app.ingestion.decoding import json_with_decimals
from app.ingestion.errors import InvalidCursorError, UpstreamError
from app.ingestion.http import RequestStats, RetryPolicy, UpstreamHttp
from app.ingestion.rate_limit import RateLimiter
from app.ingestion.responses import parse_retry_after

BASE = "https://api.test"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def upstream(client: httpx.AsyncClient, **policy: float) -> UpstreamHttp:
    return UpstreamHttp(
        client,
        upstream="cursor",
        base_url=BASE,
        key_setting="CURSOR_API_KEY",
        auth=httpx.BasicAuth("key_secret_value", ""),
        limiter=RateLimiter(60_000),
        concurrency=asyncio.Semaphore(4),
        policy=RetryPolicy(
            max_attempts=int(policy.get("attempts", 6)),
            base_wait_seconds=policy.get("base", 0.0),
            max_wait_seconds=policy.get("max_wait", 5.0),
        ),
        secrets=["key_secret_value"],
    )


@respx.mock
async def test_429_then_200_is_retried_and_counted(client: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/x").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "Too Many Requests"}),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    stats = RequestStats()
    body = await upstream(client).request_json(
        "POST", "/x", endpoint="x", decode=json_with_decimals, stats=stats, json_body={}
    )
    assert body == {"ok": True}
    assert route.call_count == 2
    assert (stats.requests, stats.retries, stats.rate_limit_waits) == (2, 1, 1)


@respx.mock
async def test_503_three_times_then_200_post_included(client: httpx.AsyncClient) -> None:
    route = respx.post(f"{BASE}/x").mock(
        side_effect=[httpx.Response(503)] * 3 + [httpx.Response(200, json=[1])]
    )
    stats = RequestStats()
    assert await upstream(client).request_json(
        "POST", "/x", endpoint="x", decode=json_with_decimals, stats=stats
    ) == [1]
    assert route.call_count == 4 and stats.retries == 3 and stats.rate_limit_waits == 0


@respx.mock
async def test_timeouts_and_resets_are_retried(client: httpx.AsyncClient) -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("peer closed connection"),
            httpx.Response(200, json={}),
        ]
    )
    stats = RequestStats()
    assert (
        await upstream(client).request_json(
            "GET", "/x", endpoint="x", decode=json_with_decimals, stats=stats
        )
        == {}
    )
    assert stats.retries == 2


@respx.mock
async def test_retry_after_seconds_is_honoured(client: httpx.AsyncClient) -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json={}),
        ]
    )
    stats = RequestStats()
    started = asyncio.get_running_loop().time()
    await upstream(client).request_json(
        "GET", "/x", endpoint="x", decode=json_with_decimals, stats=stats
    )
    assert stats.rate_limit_wait_seconds == pytest.approx(1.0)
    assert asyncio.get_running_loop().time() - started >= 0.95


def test_retry_after_http_date_and_garbage() -> None:
    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(42)
    assert parse_retry_after("7", now=now) == 7
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


@respx.mock
async def test_retry_after_is_capped_by_the_maximum_wait(client: httpx.AsyncClient) -> None:
    respx.get(f"{BASE}/x").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3600"}),
            httpx.Response(200, json={}),
        ]
    )
    stats = RequestStats()
    await upstream(client, max_wait=0.05).request_json(
        "GET", "/x", endpoint="x", decode=json_with_decimals, stats=stats
    )
    assert stats.rate_limit_wait_seconds == pytest.approx(0.05)


@respx.mock
async def test_a_wait_beyond_the_source_budget_fails_clearly(client: httpx.AsyncClient) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(429, headers={"Retry-After": "30"}))
    stats = RequestStats()
    stats.start_budget(1.0)
    with pytest.raises(UpstreamError) as caught:
        await upstream(client, max_wait=60).request_json(
            "GET", "/x", endpoint="x", decode=json_with_decimals, stats=stats
        )
    assert "failed after 1 attempts: HTTP 429" in str(caught.value)
    assert caught.value.status == 429


@respx.mock
async def test_retries_stop_after_max_attempts(client: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(502, text="bad gateway"))
    with pytest.raises(UpstreamError) as caught:
        await upstream(client, attempts=3).request_json(
            "GET", "/x", endpoint="x", decode=json_with_decimals, stats=RequestStats()
        )
    assert route.call_count == 3
    assert "failed after 3 attempts: HTTP 502: bad gateway" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": "Unauthorized", "message": "Invalid API key"},
         "cursor rejected CURSOR_API_KEY (HTTP 401: Invalid API key)"),
        (403, {"error": "Forbidden", "message": "Enterprise access required"},
         "cursor rejected CURSOR_API_KEY (HTTP 403: Enterprise access required)"),
        (400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad date"}},
         "cursor x answered HTTP 400: bad date"),
        (404, {"error": "Not Found", "message": "Resource not found"},
         "cursor x answered HTTP 404: Resource not found"),
    ],
)  # fmt: skip
@respx.mock
async def test_other_4xx_fail_at_once_with_the_upstream_message(
    client: httpx.AsyncClient, status: int, body: dict[str, object], expected: str
) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(UpstreamError) as caught:
        await upstream(client).request_json(
            "GET", "/x", endpoint="x", decode=json_with_decimals, stats=RequestStats()
        )
    assert route.call_count == 1
    assert str(caught.value) == expected
    assert caught.value.status == status
    assert isinstance(caught.value, InvalidCursorError) == (status == 400)


@respx.mock
async def test_secrets_are_redacted_from_upstream_messages(client: httpx.AsyncClient) -> None:
    respx.get(f"{BASE}/x").mock(
        return_value=httpx.Response(401, json={"message": "key key_secret_value is revoked"})
    )
    with pytest.raises(UpstreamError) as caught:
        await upstream(client).request_json(
            "GET", "/x", endpoint="x", decode=json_with_decimals, stats=RequestStats()
        )
    assert "key_secret_value" not in str(caught.value)
    assert "***" in str(caught.value)


@respx.mock
async def test_invalid_json_is_retried_then_reported(client: httpx.AsyncClient) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, content=b'{"data": [1,'))
    with pytest.raises(UpstreamError) as caught:
        await upstream(client, attempts=2).request_json(
            "GET",
            "/x",
            endpoint="x",
            decode=json_with_decimals,
            stats=RequestStats(),
            context="2026-08-01 page 3",
        )
    assert route.call_count == 2
    assert "x 2026-08-01 page 3 failed after 2 attempts" in str(caught.value)
    assert "not valid JSON" in str(caught.value)


@respx.mock
async def test_json_numbers_are_decimal_never_float(client: httpx.AsyncClient) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, content=b'{"amount": 186.37}'))
    body = await upstream(client).request_json(
        "GET", "/x", endpoint="x", decode=json_with_decimals, stats=RequestStats()
    )
    from decimal import Decimal

    assert body["amount"] == Decimal("186.37") and isinstance(body["amount"], Decimal)
