"""What every simulated upstream shares: its state, error envelopes, auth, page cursors, query
parsing, and the fault injection every response passes through."""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.simulator.faults import FaultPlan, FaultSpec
from app.simulator.model import GroundTruth
from app.simulator.rate_limits import RateLimits

ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    410: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass
class SimulatorOptions:
    cursor_api_key: str = "sim-cursor-key"
    admin_api_key: str = "sk-ant-admin01-sim"
    compliance_api_key: str = "sk-ant-api01-sim-compliance"
    analytics_api_key: str = "sk-ant-analytics-sim"
    github_token: str = "ghp_simCopilotToken0123456789abcdef"
    github_organization: str = "acme-sim"  # the GitHub organisation (or enterprise) it serves
    # Cap items per page below the upstreams' own maxima, to exercise pagination.
    page_cap: int | None = None
    bucket_cap: int | None = None
    # Enforce the documented rate limits, each rate ×scale (None: no limits).
    rate_limit_scale: float | None = None
    # Keep every page served (bench/replay.py serves them again, for almost no CPU).
    record_to: Path | None = None
    # List the compliance key among the API keys, expiring then (RFC 3339), as keys created
    # since 2026-07 do; its `partial_key_hint` is the key's head and tail.
    compliance_key_expires_at: str | None = None


@dataclass
class Simulated:
    """One simulator's state: its truth, options, fault plan and request counts."""

    truth: GroundTruth
    options: SimulatorOptions
    faults: FaultPlan = field(default_factory=FaultPlan)
    counts: dict[str, int] = field(default_factory=dict)
    rate_limits: RateLimits = field(init=False)

    def __post_init__(self) -> None:
        self.rate_limits = RateLimits(self.options.rate_limit_scale)


def simulated(request: Request) -> Simulated:
    sim: Simulated = request.app.state.sim
    return sim


class Reject(Exception):
    """Answer the request with `response` (an upstream's error envelope)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def anthropic_error(status: int, error_type: str, message: str) -> JSONResponse:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    return JSONResponse(
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": request_id,
        },
        status_code=status,
        headers={"request-id": request_id},
    )


def bad_request(message: str) -> Reject:
    return Reject(anthropic_error(400, "invalid_request_error", message))


def cursor_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


# --- auth --------------------------------------------------------------------------------------


def github_error(status: int, message: str) -> JSONResponse:
    """GitHub's REST error body."""
    return JSONResponse(
        {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        },
        status_code=status,
    )


def cursor_auth(request: Request) -> None:
    header = request.headers.get("authorization", "")
    key = simulated(request).options.cursor_api_key
    if header != f"Basic {base64.b64encode(f'{key}:'.encode()).decode()}":
        raise Reject(cursor_error(401, "Unauthorized", "Invalid API key"))


def anthropic_auth(request: Request, *accepted: str) -> None:
    if request.headers.get("anthropic-version") != ANTHROPIC_VERSION:
        raise bad_request("anthropic-version header is required")
    key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
        "Bearer "
    )
    if key not in accepted:
        raise Reject(anthropic_error(401, "authentication_error", "invalid x-api-key"))


# --- page cursors and query parameters ---------------------------------------------------------


def _fingerprint(request: Request) -> str:
    items = sorted((k, v) for k, v in request.query_params.multi_items() if k != "page")
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def encode_cursor(request: Request, offset: Any) -> str:
    """An opaque cursor bound to the query it continues."""
    raw = json.dumps({"o": offset, "f": _fingerprint(request)}).encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode()


def cursor_offset(request: Request, default: Any) -> tuple[Any, bool]:
    """The offset the request's `page` cursor continues from (and whether it had one)."""
    value = request.query_params.get("page")
    if not value:
        return default, False
    try:
        data = json.loads(base64.urlsafe_b64decode(value.removeprefix("page_").encode()))
    except (binascii.Error, ValueError):
        raise bad_request("Invalid page cursor") from None
    if not isinstance(data, dict) or data.get("f") != _fingerprint(request):
        raise bad_request("Invalid page cursor")
    return data["o"], True


def paged(request: Request, items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    chunk = items[offset : offset + limit]
    more = offset + limit < len(items)
    return {
        "data": chunk,
        "has_more": more,
        "next_page": encode_cursor(request, offset + limit) if more else None,
    }


def parse_rfc3339(value: str | None, name: str) -> datetime:
    if not value or "T" not in value:
        raise bad_request(f"{name} must be an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"invalid {name}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def page_limit(request: Request, default: int, maximum: int, cap: int | None) -> int:
    try:
        limit = int(request.query_params.get("limit", default))
    except ValueError:
        raise bad_request("limit must be an integer") from None
    if not 1 <= limit <= maximum:
        raise bad_request(f"limit must be 1..{maximum}")
    return min(limit, cap) if cap else limit


# --- responses and faults ----------------------------------------------------------------------


def _decimal_as_number(value: object) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(body: Any) -> bytes:
    # Decimal cents (Claude Code estimated_cost) go out as JSON numbers, like the real API.
    return orjson.dumps(body, default=_decimal_as_number)


async def respond(
    request: Request,
    endpoint: str,
    upstream: str,
    body: dict[str, Any],
    page: int,
    has_cursor: bool,
) -> Response:
    """Count the request, answer 429 past its rate limit, apply the endpoint's latency and any
    fault due, else send `body`."""
    sim = simulated(request)
    sim.counts[endpoint] = sim.counts.get(endpoint, 0) + 1
    retry_after = sim.rate_limits.check(endpoint)
    if retry_after is not None:
        return rate_limited_response(upstream, retry_after)
    latency = sim.faults.latency_ms(endpoint)
    if latency:
        await asyncio.sleep(latency / 1000)
    fault = sim.faults.take(endpoint, page, has_cursor)
    if fault is not None:
        if fault.kind in (
            "drop_field", "add_field", "null_field", "set_field", "empty_day", "blank_ids",
            "quiet_days",
        ):  # fmt: skip
            body = copy.deepcopy(body)  # pages share a cached day's records
        faulty = faulty_response(fault, upstream, body)
        if faulty is not None:
            return faulty
    payload = dumps(body)
    if sim.options.record_to is not None:
        record(sim.options.record_to, request.method, request.url.path, request.url.query,
               await request.body(), payload)  # fmt: skip
    headers = DEPRECATION_HEADERS if fault is not None and fault.kind == "deprecated" else None
    return Response(payload, media_type="application/json", headers=headers)


DEPRECATION_HEADERS = {"Deprecation": "@1767225600", "Sunset": "Thu, 31 Dec 2026 23:59:59 GMT"}


def recording_key(method: str, path: str, query: str, body: bytes) -> str:
    """What identifies a request in a recording: the same client sends the same bytes."""
    return hashlib.sha256(f"{method} {path}?{query}\n".encode() + body).hexdigest()


def record(
    directory: Path, method: str, path: str, query: str, body: bytes, payload: bytes
) -> None:
    """One served page, stored under its request's key (and listed with its path)."""
    key = recording_key(method, path, query, body)
    (directory / key).write_bytes(payload)
    with (directory / "index").open("a") as index:
        index.write(f"{key} {path}\n")


def _status_fault(fault: FaultSpec, upstream: str) -> Response:
    message = fault.message or f"Simulated HTTP {fault.status}"
    if upstream == "cursor":
        response = cursor_error(fault.status, "Error", message)
    elif upstream == "copilot":
        response = github_error(fault.status, message)
    else:
        kind = ANTHROPIC_STATUS_TYPES.get(fault.status, "api_error")
        response = anthropic_error(fault.status, kind, message)
    if fault.retry_after:
        response.headers["retry-after"] = fault.retry_after
    return response


def rate_limited_response(upstream: str, retry_after: float) -> Response:
    """The documented 429 of each upstream, with when the next request would be served."""
    if upstream == "cursor":
        response = cursor_error(
            429, "Too Many Requests", "Rate limit exceeded. Please try again later."
        )
    else:
        response = anthropic_error(429, "rate_limit_error", "Rate limit exceeded")
    response.headers["retry-after"] = f"{retry_after:.3f}"
    return response


def _invalid_cursor(upstream: str, expired: bool) -> Response:
    if upstream == "cursor":
        return cursor_error(400, "Bad Request", "Invalid page")
    if expired:
        return anthropic_error(410, "invalid_request_error", "Page cursor expired")
    return anthropic_error(400, "invalid_request_error", "Invalid page cursor")


def _broken_body(kind: str, body: dict[str, Any]) -> Response:
    if kind == "malformed":
        return Response(b'{"data": [ {"oops": ', media_type="application/json")
    full = dumps(body)
    if kind == "truncate":
        return Response(
            full[: len(full) // 2],
            media_type="application/json",
            headers={"content-length": str(len(full))},
        )

    async def half_then_drop() -> AsyncIterator[bytes]:
        yield full[: len(full) // 2]
        raise ConnectionResetError("simulated reset mid-body")

    return StreamingResponse(half_then_drop(), media_type="application/json")


# Where each upstream puts a page's items.
ITEM_KEYS = ("data", "teamMembers", "usageEvents", "teamMemberSpend")


def _items(body: dict[str, Any]) -> list[Any]:
    return [item for key in ITEM_KEYS for item in body.get(key, [])]


def _day_of(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if "timestamp" in item:  # Cursor usage events: epoch ms
        return datetime.fromtimestamp(int(item["timestamp"]) / 1000, tz=UTC).date().isoformat()
    for key in ("day", "starting_at", "created_at", "date"):
        if isinstance(item.get(key), str):
            return str(item[key])[:10]
    return None


def _clear_days(body: dict[str, Any], cleared: Callable[[str], bool]) -> None:
    """The items of cleared days left out; a cleared day's report bucket stays, without
    results."""
    for key in ITEM_KEYS:
        items = body.get(key)
        if not isinstance(items, list):
            continue
        kept = []
        for item in items:
            day = _day_of(item)
            if day is None or not cleared(day):
                kept.append(item)
            elif "results" in item:
                kept.append({**item, "results": []})
        body[key] = kept


def _quiet(body: dict[str, Any], active: set[str]) -> None:
    """Every day but the active ones answers nothing."""
    events = len(body.get("usageEvents") or ())
    _clear_days(body, lambda day: day not in active)
    if len(body.get("usageEvents") or ()) < events:  # one day per chain: all of it, said so
        ended = {**body["pagination"], "hasNextPage": False, "numPages": 1}
        body.update(usageEvents=[], totalUsageEventsCount=0, pagination=ended)


def _empty_day(body: dict[str, Any], day: str) -> None:
    """The day's report bucket answers no results; its rows and events are left out."""
    _clear_days(body, lambda cleared: cleared == day)


def _reshape(fault: FaultSpec, body: dict[str, Any]) -> None:
    """Fields the documents allow to vanish, appear or be null; days that answer nothing."""
    if fault.kind == "empty_day" and fault.field:
        _empty_day(body, fault.field)
        return
    if fault.kind == "blank_ids":
        _blank_ids(body)
        return
    if fault.kind == "quiet_days":
        _quiet(body, set(fault.value or ()))
        return
    items = _items(body)
    if fault.kind == "null_field" and fault.field and items and isinstance(items[0], dict):
        items[0][fault.field] = None
    for item in items:
        if fault.kind == "drop_field" and fault.field:
            _drop(item, fault.field)
        elif fault.kind == "set_field" and fault.field:
            _set(item, fault.field, fault.value)
        elif fault.kind == "add_field" and isinstance(item, dict):
            # Nested objects in a list, and a string holding what ends one row and starts the
            # next: a client that splits rows by their bytes must not be fooled.
            item["x_new_field"] = {
                "added": "later", "n": 1, "notes": [{"text": 'a},{"b": 1}]'}, {"tags": []}],
            }  # fmt: skip
            item.setdefault(fault.field or "x_new_flag", True)


def faulty_response(fault: FaultSpec, upstream: str, body: dict[str, Any]) -> Response | None:
    """The response a fault replaces the page with, or None once it reshaped `body`."""
    if fault.kind == "status":
        return _status_fault(fault, upstream)
    if fault.kind in ("invalid_cursor", "expired_cursor"):
        return _invalid_cursor(upstream, expired=fault.kind == "expired_cursor")
    if fault.kind in ("malformed", "truncate", "reset"):
        return _broken_body(fault.kind, body)
    _reshape(fault, body)
    return None


_BLANKS = ("null", "", " ")


def _blank_ids(item: Any, turn: list[int] | None = None) -> None:
    """Absent ids sent as the strings live accounts send (see `blank_ids`)."""
    turn = turn if turn is not None else [0]
    if isinstance(item, list):
        for value in item:
            _blank_ids(value, turn)
        return
    if not isinstance(item, dict):
        return
    if "userEmail" in item and "serviceAccountId" not in item:  # a human's Cursor event
        item.update(serviceAccountId="null", serviceAccountName="", cloudAgentId="null")
    for name in ("service_account_id", "account_id", "api_key_id"):
        if name in item and item[name] is None:
            item[name] = _BLANKS[turn[0] % len(_BLANKS)]
            turn[0] += 1
    for value in item.values():
        _blank_ids(value, turn)


def _drop(item: Any, name: str) -> None:
    if isinstance(item, dict):
        item.pop(name, None)
        for value in item.values():
            _drop(value, name)
    elif isinstance(item, list):
        for value in item:
            _drop(value, name)


def _set(item: Any, name: str, value: Any) -> None:
    if isinstance(item, dict):
        if name in item:
            item[name] = value
        for nested in item.values():
            _set(nested, name, value)
    elif isinstance(item, list):
        for nested in item:
            _set(nested, name, value)
