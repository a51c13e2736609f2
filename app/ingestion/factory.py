"""Build the upstream clients from settings: one limiter and concurrency cap per upstream."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from app.config import Settings
from app.ingestion.bounds import SPOOL_PREFIX, Bounds, configure_spool
from app.ingestion.http import RetryPolicy, UpstreamHttp
from app.ingestion.rate_limit import RateLimiter
from app.scratch import sweep_leftovers
from app.upstreams.anthropic.client import AnthropicClient, anthropic_headers
from app.upstreams.cursor.client import CursorClient


@dataclass(frozen=True)
class UpstreamClients:
    cursor: CursorClient | None
    anthropic: AnthropicClient | None
    compliance: AnthropicClient | None
    analytics: AnthropicClient | None


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one outbound client: explicit timeouts, pooled connections, no implicit retries, no
    redirects, and no settings from the environment (`trust_env=False`: HTTP(S)_PROXY, NO_PROXY
    and .netrc are not read, so no variable set for something else reroutes the admin keys;
    UPSTREAM_PROXY sets a proxy explicitly). Bodies are asked for as gzip, which
    `app.ingestion.bounds` decompresses with a size limit."""
    proxy = settings.upstream_proxy.get_secret_value() if settings.upstream_proxy else None
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.upstream_timeout_seconds, connect=10.0),
        limits=httpx.Limits(
            max_connections=settings.upstream_max_concurrency * 4,
            max_keepalive_connections=settings.upstream_max_concurrency * 2,
        ),
        headers={
            "User-Agent": "ai-usage-pipeline/0.1 (+https://github.com/ai-usage-pipeline)",
            "Accept-Encoding": "gzip",
        },
        follow_redirects=False,
        trust_env=False,
        proxy=proxy,
    )


def upstream_bounds(settings: Settings) -> Bounds:
    return Bounds(
        request_deadline_seconds=settings.upstream_request_deadline_seconds,
        max_page_bytes=settings.upstream_max_page_bytes,
        max_pages=settings.upstream_max_pages_per_chain,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.upstream_max_attempts,
        base_wait_seconds=settings.upstream_retry_base_seconds,
        max_wait_seconds=settings.upstream_max_retry_wait_seconds,
    )


def build_clients(settings: Settings, client: httpx.AsyncClient) -> UpstreamClients:
    policy = retry_policy(settings)
    bounds = upstream_bounds(settings)
    spool = settings.data_dir / "spool"
    configure_spool(settings.spool_max_bytes, spool)
    sweep_leftovers(spool, SPOOL_PREFIX)  # pages a killed process left waiting
    anthropic_url = str(settings.anthropic_api_base_url)

    def anthropic(key: str, setting: str, per_minute: float) -> AnthropicClient:
        return AnthropicClient(
            UpstreamHttp(
                client,
                upstream="anthropic",
                base_url=anthropic_url,
                key_setting=setting,
                headers=anthropic_headers(key),
                limiter=RateLimiter(per_minute, settings.upstream_rate_window_seconds),
                concurrency=asyncio.Semaphore(settings.upstream_max_concurrency),
                policy=policy,
                bounds=bounds,
            ),
            report_days_per_page=settings.anthropic_report_days_per_page,
        )

    cursor = None
    if settings.cursor_api_key is not None:
        concurrency = asyncio.Semaphore(settings.upstream_max_concurrency)

        def cursor_http(per_minute: float) -> UpstreamHttp:
            assert settings.cursor_api_key is not None
            return UpstreamHttp(
                client,
                upstream="cursor",
                base_url=str(settings.cursor_api_base_url),
                key_setting="CURSOR_API_KEY",
                auth=httpx.BasicAuth(settings.cursor_api_key.get_secret_value(), ""),
                limiter=RateLimiter(per_minute, settings.upstream_rate_window_seconds),
                concurrency=concurrency,
                policy=policy,
                bounds=bounds,
            )

        cursor = CursorClient(
            cursor_http(settings.cursor_requests_per_minute),
            page_size=settings.cursor_page_size,
            page_rows=settings.cursor_page_rows,
            # Usage events are limited on their own (60/min), apart from the other endpoints.
            events_http=cursor_http(settings.cursor_events_requests_per_minute),
        )
    admin = None
    if settings.anthropic_admin_api_key is not None:
        admin = anthropic(
            settings.anthropic_admin_api_key.get_secret_value(),
            "ANTHROPIC_ADMIN_API_KEY",
            settings.anthropic_requests_per_minute,
        )
    compliance = None
    if (key := settings.compliance_key) is not None:
        setting = (
            "ANTHROPIC_COMPLIANCE_API_KEY"
            if settings.anthropic_compliance_api_key is not None
            else "ANTHROPIC_ADMIN_API_KEY"
        )
        compliance = anthropic(
            key.get_secret_value(), setting, settings.anthropic_compliance_requests_per_minute
        )
    analytics = None
    if settings.anthropic_analytics_api_key is not None:
        analytics = anthropic(
            settings.anthropic_analytics_api_key.get_secret_value(),
            "ANTHROPIC_ANALYTICS_API_KEY",
            settings.anthropic_analytics_requests_per_minute,
        )
    return UpstreamClients(cursor, admin, compliance, analytics)
