"""What an upstream's answer says when it is not a page: its error text, when to retry, and
what a failed connection was — each in words safe to store (redacted, then cut short)."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime

import httpx

from app import redaction

MAX_MESSAGE_CHARS = 300


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


def rate_limit_wait(headers: httpx.Headers, *, now: datetime | None = None) -> float | None:
    """Seconds until a rate-limited request may be sent again, when the answer says it is
    rate limited: `Retry-After`, or an exhausted `x-ratelimit-remaining` with its
    `x-ratelimit-reset` (epoch seconds) — GitHub answers its limits with 403 as well as 429."""
    if (retry_after := parse_retry_after(headers.get("retry-after"), now=now)) is not None:
        return retry_after
    if headers.get("x-ratelimit-remaining", "").strip() != "0":
        return None
    try:
        reset = float(headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return 60.0  # exhausted, no reset given: GitHub's advice is to wait a minute
    return max(0.0, reset - (now or datetime.now(UTC)).timestamp())


def upstream_message(body: bytes, reason_phrase: str) -> str:
    """The upstream's own error text — Cursor `{error, message}`, Anthropic `{error:
    {message}}` — redacted, then cut short (in that order: no part of a key survives a cut)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        text = body.decode("utf-8", "replace").strip()
        return redaction.safe_text(text, MAX_MESSAGE_CHARS) or reason_phrase
    message = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
        elif data.get("message"):
            message = str(data["message"])
        elif isinstance(error, str):
            message = error
    return reason_phrase if message is None else redaction.safe_text(message, MAX_MESSAGE_CHARS)


def transport_failure(exc: httpx.RequestError) -> str:
    """What went wrong, in our words: the exception's own text can carry a header value (a
    key with a stray newline breaks the header, and the error quotes it)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__} (no answer within UPSTREAM_TIMEOUT_SECONDS)"
    if isinstance(exc, httpx.LocalProtocolError):
        return "LocalProtocolError (the request could not be sent as HTTP)"
    if isinstance(exc, httpx.ConnectError):
        return "ConnectError (could not connect: check the base URL and the network)"
    return f"{type(exc).__name__} (the connection failed)"
