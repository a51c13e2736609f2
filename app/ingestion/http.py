"""Shared upstream HTTP: one retry policy, client-side rate limits, counted waits, bounds.

Every upstream call goes through `UpstreamHttp.request_json`:
- 429, 5xx (incl. Anthropic's 529), timeouts, connection errors and unparseable bodies are
  retried (POST too: these reads are safe to repeat) with full-jitter exponential backoff;
- `Retry-After` (seconds or HTTP-date) is honoured, capped by a maximum wait;
- a per-source time budget bounds all waiting; past it the source fails clearly;
- one request (sending it and reading its whole body) has a deadline, and a body a size
  limit, counted as it is decompressed (`app.ingestion.bounds`);
- a redirect is not followed and any other 4xx fails at once with the upstream's own message.
Messages pass through `app.redaction` before they are cut short or stored. Retries and
rate-limit waits are counted in `RequestStats` so a run can report them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import IO, TypeVar, cast

import httpx
import stamina

from app import metrics, redaction
from app.ingestion.bounds import (
    ERROR_BODY_BYTES,
    SPOOL,
    BadEncoding,
    BodyTooLarge,
    Bounds,
    ChainGuard,
    SpoolFull,
    bounded_body,
)
from app.ingestion.decoding import Decoder, FromFile, Params
from app.ingestion.errors import InvalidBody, InvalidCursorError, UpstreamError
from app.ingestion.responses import rate_limit_wait, transport_failure, upstream_message
from app.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 529})


# stamina would log each retry with the exception's repr; we log (redacted) and count retries
# ourselves, so its own hooks stay off.
stamina.instrumentation.set_on_retry_hooks([])


@dataclass
class RequestStats:
    """Counters for one source within one run; shared by every request it makes."""

    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    last_status: int | None = None
    deadline: float = field(default_factory=lambda: float("inf"))
    # Per endpoint, what an answer said about its going away (Deprecation / Sunset headers).
    drift: dict[str, str] = field(default_factory=dict)

    def start_budget(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_wait_seconds: float = 1.0
    max_wait_seconds: float = 120.0


class _Retryable(Exception):
    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def _retry_reason(exc: Exception) -> str:
    if isinstance(exc, _Retryable):
        if exc.status == 429:
            return "rate_limited"
        if exc.status is not None and exc.status >= 400:
            return "server_error"
        return "timeout" if exc.status is None else "invalid_body"
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"


class UpstreamHttp:
    """One upstream (base URL + auth) behind the shared policy."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        upstream: str,
        base_url: str,
        key_setting: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        limiter: AbstractAsyncContextManager[object],
        concurrency: asyncio.Semaphore,
        policy: RetryPolicy,
        secrets: Sequence[str] = (),
        bounds: Bounds = Bounds(),  # noqa: B008 - frozen
    ) -> None:
        self._client = client
        self.upstream = upstream
        self._base_url = base_url.rstrip("/")
        self._key_setting = key_setting
        self._headers = dict(headers or {})
        self._auth = auth
        self._limiter = limiter
        self._concurrency = concurrency
        self._policy = policy
        self.bounds = bounds
        redaction.remember(secrets)  # usually known already, from the settings

    def chain_guard(self, endpoint: str, where: str) -> ChainGuard:
        """The bounds of one page chain of this upstream (`app.ingestion.bounds.ChainGuard`)."""
        return ChainGuard(self.upstream, endpoint, where, self.bounds.max_pages)

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        stats: RequestStats,
        decode: Decoder[T],
        params: Params | None = None,
        json_body: Mapping[str, object] | None = None,
        context: str = "",
    ) -> T:
        """Send one request with retries; return the body as `decode` reads it (a page model,
        or `json_with_decimals`: JSON with floats as Decimal); the decompressed body is bounded
        by the upstream's page limit."""
        reader = decode
        attempts = [0]
        backoff = self._backoff(endpoint, stats, attempts)
        where = f"{endpoint}{' ' + context if context else ''}"
        limit = self.bounds.max_page_bytes
        try:
            async for retry in stamina.retry_context(
                on=backoff, attempts=None, timeout=None, wait_max=self._policy.max_wait_seconds
            ):
                with retry:
                    body = await self._send_once(
                        method,
                        path,
                        endpoint,
                        stats,
                        params,
                        json_body,
                        isinstance(reader, FromFile),
                        limit,
                    )
                    return self._decoded(body, reader, stats)
        except _Retryable as exc:
            message = f"failed after {attempts[0]} attempts: {exc.reason}"
            raise self._error(where, message, endpoint, exc.status) from None
        except httpx.TransportError as exc:
            message = f"failed after {attempts[0]} attempts: {transport_failure(exc)}"
            raise self._error(where, message, endpoint) from None
        except httpx.RequestError as exc:  # not retried: e.g. an unsupported URL
            raise self._error(where, f"failed: {transport_failure(exc)}", endpoint) from None
        except BodyTooLarge as exc:
            message = (
                f"answered more than {exc.limit} bytes (decompressed) for one page"
                " (UPSTREAM_MAX_PAGE_BYTES)"
            )
            raise self._error(where, message, endpoint, stats.last_status) from None
        except SpoolFull as exc:
            raise self._error(where, f"not read: {exc}", endpoint, stats.last_status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(
        self, endpoint: str, stats: RequestStats, attempts: list[int]
    ) -> Callable[[Exception], bool | float]:
        """stamina's `on`: whether to retry, and after how long (counted in `attempts[0]`)."""

        def backoff(exc: Exception) -> bool | float:
            attempts[0] += 1
            attempt = attempts[0]
            if not isinstance(exc, _Retryable | httpx.TransportError):
                return False
            if attempt >= self._policy.max_attempts:
                return False
            retry_after = exc.retry_after if isinstance(exc, _Retryable) else None
            if retry_after is not None:
                wait = min(retry_after, self._policy.max_wait_seconds)
            else:
                ceiling = min(
                    self._policy.max_wait_seconds,
                    self._policy.base_wait_seconds * 2 ** (attempt - 1),
                )
                wait = random.uniform(0, ceiling)
            if time.monotonic() + wait > stats.deadline:
                return False
            stats.retries += 1
            metrics.UPSTREAM_RETRIES.labels(self.upstream, _retry_reason(exc)).inc()
            if isinstance(exc, _Retryable) and exc.status == 429:
                stats.rate_limit_waits += 1
                stats.rate_limit_wait_seconds += wait
            log.warning(
                "upstream request retried",
                upstream=self.upstream,
                endpoint=endpoint,
                reason=exc.reason if isinstance(exc, _Retryable) else type(exc).__name__,
                attempt=attempt,
                wait_seconds=round(wait, 3),
            )
            return wait

        return backoff

    def _error(
        self, where: str, message: str, endpoint: str, status: int | None = None
    ) -> UpstreamError:
        text = redaction.redact(f"{self.upstream} {where} {message}")
        return UpstreamError(text, upstream=self.upstream, endpoint=endpoint, status=status)

    @staticmethod
    def _decoded(body: bytes | IO[bytes], decode: Decoder[T], stats: RequestStats) -> T:
        try:
            if isinstance(decode, FromFile):
                return decode.read(cast(IO[bytes], body))
            return decode(cast(bytes, body))
        except InvalidBody as exc:
            # Cut short or garbled in transit: a fresh read is safe, usually whole.
            raise _Retryable(
                f"HTTP {stats.last_status} with {exc.what}", status=stats.last_status
            ) from None

    async def _send_once(
        self,
        method: str,
        path: str,
        endpoint: str,
        stats: RequestStats,
        params: Params | None,
        json_body: Mapping[str, object] | None,
        spooled: bool,
        limit: int,
    ) -> bytes | IO[bytes]:
        async with self._concurrency, self._limiter:
            stats.requests += 1
            started = time.perf_counter()
            deadline = self.bounds.request_deadline_seconds
            try:
                async with asyncio.timeout(deadline):
                    status, headers, body = await self._exchange(
                        method, path, params, json_body, spooled, limit
                    )
            except TimeoutError:
                metrics.UPSTREAM_REQUESTS.labels(self.upstream, endpoint, "error").inc()
                raise _Retryable(
                    f"no whole answer within {deadline:g} s (UPSTREAM_REQUEST_DEADLINE_SECONDS)"
                ) from None
            except httpx.RequestError:
                metrics.UPSTREAM_REQUESTS.labels(self.upstream, endpoint, "error").inc()
                raise
            finally:
                elapsed = time.perf_counter() - started
                metrics.UPSTREAM_DURATION.labels(self.upstream, endpoint).observe(elapsed)
        metrics.UPSTREAM_REQUESTS.labels(
            self.upstream, endpoint, metrics.status_class(status)
        ).inc()
        stats.last_status = status
        self._notice_drift(headers, endpoint, stats)
        if 200 <= status < 300:
            return body
        self._raise_for(status, headers, cast(bytes, body), endpoint)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Params | None,
        json_body: Mapping[str, object] | None,
        spooled: bool,
        limit: int,
    ) -> tuple[int, httpx.Headers, bytes | IO[bytes]]:
        """One request and its body (bounded, decompressed by us); an error body is read only
        as far as its message needs."""
        async with self._client.stream(
            method,
            f"{self._base_url}{path}",
            params=list(params) if params else None,
            json=json_body,
            headers=self._headers,
            auth=self._auth or httpx.USE_CLIENT_DEFAULT,
        ) as response:
            encoding = response.headers.get("content-encoding", "")
            if not response.is_success:
                chunks: list[bytes] = []
                with contextlib.suppress(BodyTooLarge, BadEncoding):  # the message: what was read
                    await bounded_body(response.aiter_raw(), encoding, ERROR_BODY_BYTES,
                                       chunks.append)  # fmt: skip
                return response.status_code, response.headers, b"".join(chunks)
            # The body is ours, not the Response's: httpx responses sit in reference cycles
            # until a GC pass, and a page body is megabytes.
            sink: IO[bytes] | list[bytes] = SPOOL.file() if spooled else []
            try:
                write = sink.write if not isinstance(sink, list) else sink.append
                await bounded_body(response.aiter_raw(), encoding, limit, write)
            except BadEncoding as exc:  # counted as an invalid body, not as a timeout
                status = response.status_code
                raise _Retryable(f"HTTP {status} with {exc}", status=status) from None
            except BaseException:
                if not isinstance(sink, list):
                    sink.close()
                raise
            if isinstance(sink, list):
                return response.status_code, response.headers, b"".join(sink)
            sink.seek(0)
            return response.status_code, response.headers, sink

    def _notice_drift(self, headers: httpx.Headers, endpoint: str, stats: RequestStats) -> None:
        """A `Deprecation` or `Sunset` header (RFC 9745, RFC 8594): the endpoint is going away.
        Counted on every answer; said once per endpoint and run (a source warning)."""
        said = [
            f"{name.title()}: {redaction.safe_text(value, 80)}"
            for name in ("deprecation", "sunset")
            if (value := headers.get(name))
        ]
        if not said:
            return
        metrics.UPSTREAM_DRIFT.labels(self.upstream, endpoint, "deprecated").inc()
        stats.drift.setdefault(
            endpoint, f"{self.upstream} {endpoint} answered with {', '.join(said)}"
        )

    def _raise_for(self, status: int, headers: httpx.Headers, body: bytes, endpoint: str) -> None:
        message = upstream_message(body, httpx.codes.get_reason_phrase(status) or "error")
        if status in RETRYABLE_STATUS:
            raise _Retryable(
                f"HTTP {status}: {message}",
                status=status,
                retry_after=rate_limit_wait(headers),
            )
        if status == 403 and (wait := rate_limit_wait(headers)) is not None:
            # A rate limit answered with 403 (GitHub's primary and secondary limits): waited
            # for like a 429, not taken for a rejected key.
            raise _Retryable(f"HTTP 403 (rate limited): {message}", status=429, retry_after=wait)
        if status in (401, 403):
            raise UpstreamError(
                f"{self.upstream} rejected {self._key_setting} (HTTP {status}: {message})",
                upstream=self.upstream,
                endpoint=endpoint,
                status=status,
            )
        if 300 <= status < 400:
            target = redaction.safe_text(headers.get("location", "nowhere"), 120)
            raise UpstreamError(
                f"{self.upstream} {endpoint} answered HTTP {status}, a redirect to {target}"
                " (not followed: check the base URL setting)",
                upstream=self.upstream,
                endpoint=endpoint,
                status=status,
            )
        # 400 on a cursor request, or 410 (Enterprise Analytics: cursor expired).
        error_type = InvalidCursorError if status in (400, 410) else UpstreamError
        raise error_type(
            f"{self.upstream} {endpoint} answered HTTP {status}: {message}",
            upstream=self.upstream,
            endpoint=endpoint,
            status=status,
        )
