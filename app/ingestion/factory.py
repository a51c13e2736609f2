"""The parts every upstream client is built from, and the typed set of a run's clients.

Each upstream package declares a `ClientKey` for its client and a function that builds it from
the settings with an `HttpParts` (returning None when its credentials are absent); the service
builds every registered upstream's client through the registry and sources read theirs back,
typed, with `UpstreamClients.get`. One limiter and concurrency cap per client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

import httpx

from app.config import Settings
from app.ingestion.bounds import SPOOL_PREFIX, Bounds, configure_spool
from app.ingestion.http import RetryPolicy, UpstreamHttp
from app.ingestion.rate_limit import RateLimiter
from app.scratch import sweep_leftovers

C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)


@dataclass(frozen=True, eq=False)
class ClientKey(Generic[C_co]):
    """Names one upstream's client and says how to build it (None: not configured)."""

    name: str
    build: Callable[[Settings, HttpParts], C_co | None]


class UpstreamClients:
    """The clients of one process, each under its upstream's key."""

    def __init__(self, built: Mapping[ClientKey[object], object] | None = None) -> None:
        self._built = dict(built or {})

    def get(self, key: ClientKey[C]) -> C | None:
        return cast(C | None, self._built.get(key))


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


@dataclass(frozen=True)
class HttpParts:
    """What every client's `UpstreamHttp` shares: the pooled client, retry policy, bounds."""

    client: httpx.AsyncClient
    settings: Settings
    # How errors name a key, by the setting that holds it (an account's): else the setting.
    key_labels: Mapping[str, str] = field(default_factory=dict)

    def concurrency(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.settings.upstream_max_concurrency)

    def http(
        self,
        *,
        upstream: str,
        base_url: str,
        key_setting: str,
        per_minute: float,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        concurrency: asyncio.Semaphore | None = None,
    ) -> UpstreamHttp:
        """One limited, bounded, retrying channel to an upstream with one key."""
        return UpstreamHttp(
            self.client,
            upstream=upstream,
            base_url=base_url,
            key_setting=self.key_labels.get(key_setting, key_setting),
            headers=headers,
            auth=auth,
            limiter=RateLimiter(per_minute, self.settings.upstream_rate_window_seconds),
            concurrency=concurrency or self.concurrency(),
            policy=retry_policy(self.settings),
            bounds=upstream_bounds(self.settings),
        )


def build_clients(
    settings: Settings,
    client: httpx.AsyncClient,
    keys: Iterable[ClientKey[object]],
    key_labels: Mapping[str, str] | None = None,
) -> UpstreamClients:
    """Every configured upstream's client (see the registry's `client_keys`)."""
    spool = settings.data_dir / "spool"
    configure_spool(settings.spool_max_bytes, spool)
    sweep_leftovers(spool, SPOOL_PREFIX)  # pages a killed process left waiting
    parts = HttpParts(client, settings, key_labels or {})
    built = {key: key.build(settings, parts) for key in keys}
    return UpstreamClients({key: value for key, value in built.items() if value is not None})
