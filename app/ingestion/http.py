"""Shared upstream HTTP: one retry policy, client-side rate limits, counted waits.

Every upstream call goes through `UpstreamHttp.request_json`:
- 429, 5xx (incl. Anthropic's 529), timeouts, connection errors and unparseable bodies are
  retried (POST too: these reads are safe to repeat) with full-jitter exponential backoff;
- `Retry-After` (seconds or HTTP-date) is honoured, capped by a maximum wait;
- a per-source time budget bounds all waiting; past it the source fails clearly;
- any other 4xx fails at once with the upstream's own message.
Retries and rate-limit waits are counted in `RequestStats` so a run can report them.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any, cast

import httpx
import stamina

from app import metrics
from app.logs import get_logger

log = get_logger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 529})
# A body read for a `FromFile` decoder stays in memory up to this size, beyond it on disk.
SPOOL_IN_MEMORY_BYTES = 1 << 20


@dataclass(frozen=True)
class FromFile:
    """A decoder that reads the body from a file. The body is written to a temporary file as it
    arrives instead of being held in memory: a 30-day Cursor page is 17 MB of JSON, and two are
    alive while the next one downloads."""

    read: Callable[[IO[bytes]], Any]


# stamina would log each retry with the exception's repr; we log (redacted) and count retries
# ourselves, so its own hooks stay off.
stamina.instrumentation.set_on_retry_hooks([])
MAX_MESSAGE_CHARS = 300


class UpstreamError(Exception):
    """A request failed for good. The message is safe to store and show (no secrets)."""

    def __init__(self, message: str, *, upstream: str, endpoint: str, status: int | None = None):
        super().__init__(message)
        self.upstream = upstream
        self.endpoint = endpoint
        self.status = status


class InvalidCursorError(UpstreamError):
    """The upstream rejected a page cursor (400 on a follow-up page)."""


class MalformedPageError(UpstreamError):
    """A page did not match the documented shape."""


@dataclass
class RequestStats:
    """Counters for one source within one run; shared by every request it makes."""

    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    last_status: int | None = None
    deadline: float = field(default_factory=lambda: float("inf"))

    def start_budget(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_wait_seconds: float = 1.0
    max_wait_seconds: float = 120.0


class RateLimiter:
    """At most `per_minute` requests in any minute (a sliding window of send times).

    The upstreams count requests per minute — Cursor per calendar minute, Anthropic with a
    bucket refilled continuously — and a window that never holds more than the limit is
    within every one of those readings. A leaky bucket sized to a minute is not (it lets a
    minute's budget go at once and then drains a second one into the same minute); one
    paced request every 60/N seconds is, but it cannot make up a slot it missed while the
    event loop was busy. This can: a late request is sent as soon as the window allows.
    """

    def __init__(self, per_minute: float, window_seconds: float = 60.0) -> None:
        # `window_seconds` below 60 compresses time (the benchmark's scaled limits): the same
        # number of requests per window, a shorter window. A fractional limit widens it.
        allowed = per_minute * window_seconds / 60
        self._limit = max(1, int(allowed))
        self._window = window_seconds * self._limit / allowed
        self._sent: deque[float] = deque()
        self._turn = asyncio.Lock()  # first come, first served

    async def __aenter__(self) -> None:
        async with self._turn:
            while True:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self._window:
                    self._sent.popleft()
                if len(self._sent) < self._limit:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self._sent[0] + self._window - now)

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class InvalidBody(Exception):
    """A response body that is not JSON at all — cut short or garbled in transit: retried."""


def json_with_decimals(body: bytes) -> Any:
    """The default decoder: JSON with every non-integer number as an exact `Decimal`."""
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidBody(str(exc)) from None


class _Retryable(Exception):
    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def upstream_message(response: httpx.Response) -> str:
    """The upstream's own error text: Cursor `{error, message}`, Anthropic `{error: {message}}`."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:MAX_MESSAGE_CHARS] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:MAX_MESSAGE_CHARS]
        if body.get("message"):
            return str(body["message"])[:MAX_MESSAGE_CHARS]
        if isinstance(error, str):
            return error[:MAX_MESSAGE_CHARS]
    return response.reason_phrase


def _retry_reason(exc: Exception) -> str:
    if isinstance(exc, _Retryable):
        if exc.status == 429:
            return "rate_limited"
        if exc.status is not None and exc.status >= 400:
            return "server_error"
        return "invalid_body"
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"


async def _spooled_body(response: httpx.Response) -> IO[bytes]:
    """The body in a temporary file (in memory while small), positioned at its start."""
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - the page owns it
    async for chunk in response.aiter_bytes():
        file.write(chunk)
    file.seek(0)
    return cast(IO[bytes], file)


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
        limiter: AbstractAsyncContextManager[Any],
        concurrency: asyncio.Semaphore,
        policy: RetryPolicy,
        secrets: Sequence[str] = (),
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
        self._secrets = [secret for secret in secrets if secret]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        stats: RequestStats,
        params: Sequence[tuple[str, str | int]] | None = None,
        json_body: Mapping[str, Any] | None = None,
        context: str = "",
        decode: Callable[[bytes], Any] | FromFile = json_with_decimals,
    ) -> Any:
        """Send one request with retries; return the body as `decode` reads it (by default
        JSON with floats as Decimal)."""
        attempt = 0

        def backoff(exc: Exception) -> bool | float:
            nonlocal attempt
            attempt += 1
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

        where = f"{endpoint}{' ' + context if context else ''}"
        spooled = isinstance(decode, FromFile)
        try:
            async for retry in stamina.retry_context(
                on=backoff, attempts=None, timeout=None, wait_max=self._policy.max_wait_seconds
            ):
                with retry:
                    body = await self._send_once(
                        method, path, endpoint, stats, params, json_body, spooled
                    )
                    try:
                        if isinstance(decode, FromFile):
                            return decode.read(cast(IO[bytes], body))
                        return decode(cast(bytes, body))
                    except InvalidBody:
                        # Cut short or garbled in transit: a fresh read is safe, usually whole.
                        raise _Retryable(
                            f"HTTP {stats.last_status} with a body that is not valid JSON",
                            status=stats.last_status,
                        ) from None
        except _Retryable as exc:
            raise UpstreamError(
                f"{self.upstream} {where} failed after {attempt} attempts: "
                f"{self.redact(exc.reason)}",
                upstream=self.upstream,
                endpoint=endpoint,
                status=exc.status,
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamError(
                f"{self.upstream} {where} failed after {attempt} attempts: "
                f"{type(exc).__name__} {self.redact(str(exc))}".rstrip(),
                upstream=self.upstream,
                endpoint=endpoint,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        path: str,
        endpoint: str,
        stats: RequestStats,
        params: Sequence[tuple[str, str | int]] | None,
        json_body: Mapping[str, Any] | None,
        spooled: bool = False,
    ) -> bytes | IO[bytes]:
        async with self._concurrency, self._limiter:
            stats.requests += 1
            started = time.perf_counter()
            try:
                async with self._client.stream(
                    method,
                    f"{self._base_url}{path}",
                    params=list(params) if params else None,
                    json=json_body,
                    headers=self._headers,
                    auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                ) as response:
                    if response.is_success:
                        # The body is ours, not the Response's: httpx responses sit in
                        # reference cycles until a GC pass, and a page body is megabytes.
                        body: bytes | IO[bytes] = (
                            await _spooled_body(response)
                            if spooled
                            else b"".join([chunk async for chunk in response.aiter_bytes()])
                        )
                    else:
                        await response.aread()  # a short error text, for the message
                        body = b""
            except httpx.TransportError:
                metrics.UPSTREAM_REQUESTS.labels(self.upstream, endpoint, "error").inc()
                raise
            finally:
                elapsed = time.perf_counter() - started
                metrics.UPSTREAM_DURATION.labels(self.upstream, endpoint).observe(elapsed)
        metrics.UPSTREAM_REQUESTS.labels(
            self.upstream, endpoint, metrics.status_class(response.status_code)
        ).inc()
        stats.last_status = response.status_code
        if response.status_code in RETRYABLE_STATUS:
            raise _Retryable(
                f"HTTP {response.status_code}: {self.redact(upstream_message(response))}",
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if response.status_code in (401, 403):
            raise UpstreamError(
                f"{self.upstream} rejected {self._key_setting} "
                f"(HTTP {response.status_code}: {self.redact(upstream_message(response))})",
                upstream=self.upstream,
                endpoint=endpoint,
                status=response.status_code,
            )
        if response.status_code >= 400:
            # 400 on a cursor request, or 410 (Enterprise Analytics: cursor expired).
            error_type = InvalidCursorError if response.status_code in (400, 410) else UpstreamError
            raise error_type(
                f"{self.upstream} {endpoint} answered HTTP {response.status_code}: "
                f"{self.redact(upstream_message(response))}",
                upstream=self.upstream,
                endpoint=endpoint,
                status=response.status_code,
            )
        return body
