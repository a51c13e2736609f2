"""A local stand-in for the Cursor Admin API and the Anthropic Admin/claude.ai APIs.

Serves the documented shapes from one `GroundTruth`: Basic auth with an empty password for
Cursor, `x-api-key` + `anthropic-version` for Anthropic with its error envelope, Cursor's two
daily-usage modes with the `period` echo, report buckets oldest first including empty days,
`workspace_id: null` for the Default Workspace, opaque cursors bound to the query, and
per-endpoint fault injection (`/_sim/faults`) plus restatements (`/_sim/restate`).
Pages are generated on demand, so a large organisation is served in flat memory.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from app.simulator.faults import FaultPlan, FaultSpec
from app.simulator.model import ActivityEvent, GroundTruth, _cents_text

MAX_CURSOR_WINDOW_DAYS = 30


@dataclass
class SimulatorOptions:
    cursor_api_key: str = "sim-cursor-key"
    admin_api_key: str = "sk-ant-admin01-sim"
    compliance_api_key: str = "sk-ant-api01-sim-compliance"
    analytics_api_key: str = "sk-ant-analytics-sim"
    # Cap items per page below the upstreams' own maxima, to exercise pagination.
    page_cap: int | None = None
    bucket_cap: int | None = None


def _decimal_as_number(value: object) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _dumps(body: Any) -> bytes:
    # Decimal cents (Claude Code estimated_cost) go out as JSON numbers, like the real API.
    return orjson.dumps(body, default=_decimal_as_number)


def _fingerprint(request: Request) -> str:
    items = sorted((k, v) for k, v in request.query_params.multi_items() if k != "page")
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def _encode_cursor(offset: Any, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}).encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(value: str, fingerprint: str) -> Any:
    try:
        data = json.loads(base64.urlsafe_b64decode(value.removeprefix("page_").encode()))
    except (binascii.Error, ValueError) as exc:
        raise _CursorError from exc
    if not isinstance(data, dict) or data.get("f") != fingerprint:
        raise _CursorError
    return data["o"]


class _CursorError(Exception):
    pass


class _Reject(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _anthropic_error(status: int, error_type: str, message: str) -> JSONResponse:
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


def _cursor_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


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


@lru_cache(maxsize=2)
def _activity_feed(
    truth: GroundTruth, gte: datetime, lt: datetime
) -> tuple[list[ActivityEvent], dict[str, int]]:
    """A window's events newest first, and each id's position (for `after_id`), built once
    and served page by page."""
    events = [
        event
        for day in truth.days(gte.date(), (lt - timedelta(microseconds=1)).date())
        for event in truth.activity_events(day)
        if gte <= event.at < lt
    ]
    events.reverse()
    return events, {event.id: index for index, event in enumerate(events)}


@lru_cache(maxsize=4)
def _analytics_rows(
    truth: GroundTruth, kind: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """A request span's Enterprise Analytics rows, built once and served page by page (each
    page used to rebuild every person-day of the span)."""
    rows: list[dict[str, Any]] = []
    for day in truth.days(start.date(), (end - timedelta(microseconds=1)).date()):
        for person in truth.people:
            usage = truth.chat_usage(person, day)
            if usage is None:
                continue
            tokens, cents = usage
            actor = {
                "type": "user_actor",
                "user_id": person.user_id,
                "name": person.name,
                "email": person.email,
                "deleted": False,
            }
            common = {
                "actor": actor,
                "starting_at": f"{day.isoformat()}T00:00:00Z",
                "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
                "product": "chat",
                "model": None,
            }
            if kind == "usage":
                rows.append(
                    {
                        **common,
                        "uncached_input_tokens": tokens["uncached_input_tokens"],
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": 0,
                            "ephemeral_1h_input_tokens": 0,
                        },
                        "cache_read_input_tokens": tokens["cache_read_input_tokens"],
                        "output_tokens": tokens["output_tokens"],
                        "total_tokens": sum(
                            tokens[k]
                            for k in (
                                "uncached_input_tokens",
                                "cache_read_input_tokens",
                                "output_tokens",
                            )
                        ),
                        "server_tool_use": {"web_search_requests": 0},
                        "requests": tokens["requests"],
                    }
                )
            else:
                amount = _cents_text(cents)
                rows.append({**common, "currency": "USD", "amount": amount, "list_amount": amount})
    return rows


def _parse_rfc3339(value: str | None, name: str) -> datetime:
    if not value or "T" not in value:
        raise _Reject(
            _anthropic_error(400, "invalid_request_error", f"{name} must be an RFC 3339 timestamp")
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Reject(_anthropic_error(400, "invalid_request_error", f"invalid {name}")) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _limit(request: Request, default: int, maximum: int, cap: int | None) -> int:
    try:
        limit = int(request.query_params.get("limit", default))
    except ValueError:
        raise _Reject(
            _anthropic_error(400, "invalid_request_error", "limit must be an integer")
        ) from None
    if not 1 <= limit <= maximum:
        raise _Reject(_anthropic_error(400, "invalid_request_error", f"limit must be 1..{maximum}"))
    return min(limit, cap) if cap else limit


class RestateRequest(BaseModel):
    kind: str  # "cursor" | "claude"
    day: date
    people: int = 3


def create_simulator(truth: GroundTruth, options: SimulatorOptions | None = None) -> FastAPI:
    options = options or SimulatorOptions()
    faults = FaultPlan()
    app = FastAPI(title="ai-usage-pipeline upstream simulator", docs_url=None, redoc_url=None)
    app.state.truth = truth
    app.state.faults = faults
    app.state.options = options
    counts: dict[str, int] = {}
    app.state.request_counts = counts

    @app.exception_handler(_Reject)
    async def _rejected(request: Request, exc: _Reject) -> Response:
        return exc.response

    # --- fault plumbing -------------------------------------------------------------------------

    async def respond(
        endpoint: str, upstream: str, body: dict[str, Any], page: int, has_cursor: bool
    ) -> Response:
        counts[endpoint] = counts.get(endpoint, 0) + 1
        latency = faults.latency_ms(endpoint)
        if latency:
            await asyncio.sleep(latency / 1000)
        fault = faults.take(endpoint, page, has_cursor)
        if fault is not None:
            if fault.kind in ("drop_field", "add_field"):
                body = copy.deepcopy(body)  # pages share a cached day's records
            faulty = _apply(fault, upstream, body)
            if faulty is not None:
                return faulty
        return Response(_dumps(body), media_type="application/json")

    def _apply(fault: FaultSpec, upstream: str, body: dict[str, Any]) -> Response | None:
        if fault.kind == "status":
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            message = fault.message or f"Simulated HTTP {fault.status}"
            if upstream == "cursor":
                response = _cursor_error(fault.status, "Error", message)
            else:
                kind = ANTHROPIC_STATUS_TYPES.get(fault.status, "api_error")
                response = _anthropic_error(fault.status, kind, message)
            response.headers.update(headers)
            return response
        if fault.kind == "invalid_cursor":
            if upstream == "cursor":
                return _cursor_error(400, "Bad Request", "Invalid page")
            return _anthropic_error(400, "invalid_request_error", "Invalid page cursor")
        if fault.kind == "malformed":
            return Response(b'{"data": [ {"oops": ', media_type="application/json")
        if fault.kind == "truncate":
            full = _dumps(body)
            return Response(
                full[: len(full) // 2],
                media_type="application/json",
                headers={"content-length": str(len(full))},
            )
        if fault.kind == "reset":
            full = _dumps(body)

            async def half_then_drop() -> Any:
                yield full[: len(full) // 2]
                raise ConnectionResetError("simulated reset mid-body")

            return StreamingResponse(half_then_drop(), media_type="application/json")
        if fault.kind == "drop_field" and fault.field:
            for key in ("data", "teamMembers"):
                for item in body.get(key, []):
                    _drop(item, fault.field)
        if fault.kind == "add_field":
            for key in ("data", "teamMembers"):
                for item in body.get(key, []):
                    if isinstance(item, dict):
                        item["x_new_field"] = {"added": "later", "n": 1}
                        item.setdefault(fault.field or "x_new_flag", True)
        return None

    def _drop(item: Any, name: str) -> None:
        if isinstance(item, dict):
            item.pop(name, None)
            for value in item.values():
                _drop(value, name)
        elif isinstance(item, list):
            for value in item:
                _drop(value, name)

    # --- auth -----------------------------------------------------------------------------

    def cursor_auth(request: Request) -> None:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{options.cursor_api_key}:".encode()).decode()
        if header != f"Basic {expected}":
            raise _Reject(_cursor_error(401, "Unauthorized", "Invalid API key"))

    def anthropic_auth(request: Request, *accepted: str) -> None:
        if request.headers.get("anthropic-version") != "2023-06-01":
            raise _Reject(
                _anthropic_error(
                    400, "invalid_request_error", "anthropic-version header is required"
                )
            )
        key = request.headers.get("x-api-key") or request.headers.get(
            "authorization", ""
        ).removeprefix("Bearer ")
        if key not in accepted:
            raise _Reject(_anthropic_error(401, "authentication_error", "invalid x-api-key"))

    # --- Cursor --------------------------------------------------------------------------------

    @app.post("/teams/daily-usage-data")
    async def cursor_daily_usage(request: Request) -> Response:
        cursor_auth(request)
        try:
            body = await request.json()
            start_ms, end_ms = int(body["startDate"]), int(body["endDate"])
        except (ValueError, KeyError, TypeError):
            return _cursor_error(400, "Bad Request", "startDate and endDate are required")
        if end_ms < start_ms:
            return _cursor_error(400, "Bad Request", "endDate must be after startDate")
        if end_ms - start_ms > MAX_CURSOR_WINDOW_DAYS * 86_400_000:
            return _cursor_error(400, "Bad Request", "Date range cannot exceed 30 days")
        first = datetime.fromtimestamp(start_ms / 1000, tz=UTC).date()
        last = datetime.fromtimestamp(end_ms / 1000, tz=UTC).date()
        days = list(truth.days(first, last))
        members = truth.cursor_members()
        period = {"startDate": start_ms, "endDate": end_ms}
        page, page_size = body.get("page"), body.get("pageSize")
        if page is None or page_size is None:
            rows = [
                row
                for person in members
                for day in days
                if (row := truth.cursor_row(person, day))["isActive"]
            ]
            return await respond(
                "daily-usage-data", "cursor", {"data": rows, "period": period}, 1, False
            )
        page, page_size = int(page), int(page_size)
        if options.page_cap:
            page_size = min(page_size, options.page_cap)
        total_pages = max(1, -(-len(members) // page_size))
        chosen = members[(page - 1) * page_size : page * page_size]
        payload = {
            "data": [truth.cursor_row(person, day) for person in chosen for day in days],
            "period": period,
            "pagination": {
                "page": page,
                "pageSize": page_size,
                "totalUsers": len(members),
                "totalPages": total_pages,
                "hasNextPage": page < total_pages,
                "hasPreviousPage": page > 1,
            },
        }
        return await respond("daily-usage-data", "cursor", payload, page, page > 1)

    @app.get("/teams/members")
    async def cursor_members(request: Request) -> Response:
        cursor_auth(request)
        members = [
            {
                "id": f"user_{person.cursor_user_id}",
                "name": person.name,
                "email": person.shown_email("cursor"),
                "role": "owner" if person.index == 0 else "member",
                "isRemoved": False,
            }
            for person in truth.cursor_members()
        ]
        return await respond("teams/members", "cursor", {"teamMembers": members}, 1, False)

    # --- Anthropic: cursor-paged reports ----------------------------------------------------

    def admin(request: Request) -> None:
        anthropic_auth(request, options.admin_api_key)

    def cursor_offset(request: Request, default: Any) -> tuple[Any, bool]:
        value = request.query_params.get("page")
        if not value:
            return default, False
        try:
            return _decode_cursor(value, _fingerprint(request)), True
        except _CursorError:
            raise _Reject(
                _anthropic_error(400, "invalid_request_error", "Invalid page cursor")
            ) from None

    def paged(request: Request, items: list[Any], offset: int, limit: int) -> dict[str, Any]:
        chunk = items[offset : offset + limit]
        more = offset + limit < len(items)
        return {
            "data": chunk,
            "has_more": more,
            "next_page": _encode_cursor(offset + limit, _fingerprint(request)) if more else None,
        }

    @app.get("/v1/organizations/usage_report/claude_code")
    async def claude_code(request: Request) -> Response:
        admin(request)
        raw_day = request.query_params.get("starting_at", "")
        try:
            day = date.fromisoformat(raw_day[:10])
        except ValueError:
            return _anthropic_error(400, "invalid_request_error", "starting_at must be YYYY-MM-DD")
        limit = _limit(request, 20, 1000, options.page_cap)
        offset, has_cursor = cursor_offset(request, 0)
        body = paged(request, truth.claude_code_records(day), int(offset), limit)
        return await respond(
            "usage_report/claude_code", "anthropic", body, int(offset) // limit + 1, has_cursor
        )

    def bucket_window(request: Request) -> list[date]:
        start = _parse_rfc3339(request.query_params.get("starting_at"), "starting_at")
        raw_end = request.query_params.get("ending_at")
        end = _parse_rfc3339(raw_end, "ending_at") if raw_end else start + timedelta(days=7)
        if request.query_params.get("bucket_width", "1d") != "1d":
            raise _Reject(
                _anthropic_error(400, "invalid_request_error", "simulator serves 1d buckets")
            )
        if end <= start:
            raise _Reject(
                _anthropic_error(
                    400, "invalid_request_error", "ending_at must be after starting_at"
                )
            )
        return list(truth.days(start.date(), (end - timedelta(microseconds=1)).date()))

    async def bucket_report(request: Request, endpoint: str, render: Any) -> Response:
        admin(request)
        days = bucket_window(request)
        limit = _limit(request, 7, 31, options.bucket_cap)
        offset, has_cursor = cursor_offset(request, [0, 0])
        day_index, result_index = int(offset[0]), int(offset[1])
        buckets: list[dict[str, Any]] = []
        budget = options.page_cap or 10_000  # results per page; a big day spans pages
        while day_index < len(days) and len(buckets) < limit and budget > 0:
            day = days[day_index]
            results = render(day)
            take = results[result_index : result_index + budget]
            buckets.append(
                {
                    "starting_at": f"{day.isoformat()}T00:00:00Z",
                    "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
                    "results": take,
                }
            )
            budget -= max(1, len(take))
            if result_index + len(take) < len(results):
                result_index += len(take)
                break
            day_index, result_index = day_index + 1, 0
        more = day_index < len(days)
        body = {
            "data": buckets,
            "has_more": more,
            "next_page": _encode_cursor([day_index, result_index], _fingerprint(request))
            if more
            else None,
        }
        page = 1 if not has_cursor else 2  # page numbers only matter for `min_page` faults
        return await respond(endpoint, "anthropic", body, page, has_cursor)

    def usage_results(day: date) -> list[dict[str, Any]]:
        return [
            {
                "uncached_input_tokens": row.uncached_input_tokens,
                "cache_creation": {
                    "ephemeral_1h_input_tokens": row.cache_creation_1h,
                    "ephemeral_5m_input_tokens": row.cache_creation_5m,
                },
                "cache_read_input_tokens": row.cache_read_input_tokens,
                "output_tokens": row.output_tokens,
                "server_tool_use": {"web_search_requests": row.web_search_requests},
                "api_key_id": row.api_key_id,
                "workspace_id": row.workspace_id,
                "model": row.model,
                "service_tier": row.service_tier,
                "context_window": row.context_window,
                "inference_geo": row.inference_geo,
                "account_id": None,
                "service_account_id": None,
            }
            for row in truth.usage_rows(day)
        ]

    @app.get("/v1/organizations/usage_report/messages")
    async def messages(request: Request) -> Response:
        return await bucket_report(request, "usage_report/messages", usage_results)

    @app.get("/v1/organizations/cost_report")
    async def cost(request: Request) -> Response:
        return await bucket_report(request, "cost_report", truth.cost_lines)

    # --- Anthropic: lists (after_id) ----------------------------------------------------------

    async def listing(request: Request, endpoint: str, items: list[dict[str, Any]]) -> Response:
        admin(request)
        limit = _limit(request, 20, 1000, options.page_cap)
        after = request.query_params.get("after_id")
        ids = [str(item["id"]) for item in items]
        if after and after not in ids:
            return _anthropic_error(400, "invalid_request_error", "after_id not found")
        start = ids.index(after) + 1 if after else 0
        chunk = items[start : start + limit]
        body = {
            "data": chunk,
            "has_more": start + limit < len(items),
            "first_id": chunk[0]["id"] if chunk else None,
            "last_id": chunk[-1]["id"] if chunk else None,
        }
        return await respond(endpoint, "anthropic", body, start // limit + 1, bool(after))

    @app.get("/v1/organizations/api_keys")
    async def api_keys(request: Request) -> Response:
        keys = [
            {
                "id": key.id,
                "type": "api_key",
                "name": key.name,
                "workspace_id": key.workspace_id,
                "created_at": key.created_at,
                "created_by": (
                    {"id": truth.people[key.creator_index].user_id, "type": "user"}
                    if key.creator_index is not None
                    else None
                ),
                "expires_at": None,
                "partial_key_hint": None,
                "status": "active",
            }
            for key in truth.keys
        ]
        return await listing(request, "api_keys", keys)

    @app.get("/v1/organizations/users")
    async def users(request: Request) -> Response:
        people = [
            {
                "id": person.user_id,
                "type": "user",
                "email": person.shown_email("users"),
                "name": person.name,
                "role": "developer",
                "added_at": "2025-09-01T00:00:00Z",
            }
            for person in truth.people
        ]
        return await listing(request, "users", people)

    @app.get("/v1/organizations/workspaces")
    async def workspaces(request: Request) -> Response:
        items = truth.workspaces()
        if request.query_params.get("include_archived") != "true":
            items = [item for item in items if item["archived_at"] is None]
        enriched = [
            {
                **item,
                "type": "workspace",
                "created_at": "2025-09-01T00:00:00Z",
                "display_color": "#6C5BB9",
            }
            for item in items
        ]
        return await listing(request, "workspaces", enriched)

    # --- claude.ai ------------------------------------------------------------------------------

    @app.get("/v1/compliance/activities")
    async def activities(request: Request) -> Response:
        anthropic_auth(request, options.compliance_api_key, options.admin_api_key)
        gte = _parse_rfc3339(request.query_params.get("created_at.gte"), "created_at.gte")
        lt = _parse_rfc3339(request.query_params.get("created_at.lt"), "created_at.lt")
        limit = _limit(request, 100, 5000, options.page_cap)
        events, position = _activity_feed(truth, gte, lt)
        after = request.query_params.get("after_id")
        if after and after not in position:
            return _anthropic_error(400, "invalid_request_error", "after_id not found")
        start = position[after] + 1 if after else 0
        chunk = [truth.render_activity(event) for event in events[start : start + limit]]
        body = {
            "data": chunk,
            "has_more": start + limit < len(events),
            "first_id": chunk[0]["id"] if chunk else None,
            "last_id": chunk[-1]["id"] if chunk else None,
        }
        return await respond(
            "compliance/activities", "anthropic", body, start // limit + 1, bool(after)
        )

    def analytics_rows(request: Request, kind: str) -> list[dict[str, Any]]:
        anthropic_auth(request, options.analytics_api_key)
        start = _parse_rfc3339(request.query_params.get("starting_at"), "starting_at")
        end = _parse_rfc3339(request.query_params.get("ending_at"), "ending_at")
        if (end - start).days > 31:
            raise _Reject(_anthropic_error(400, "invalid_request_error", "span must be ≤ 31 days"))
        return _analytics_rows(truth, kind, start, end)

    async def analytics(request: Request, kind: str, endpoint: str) -> Response:
        rows = analytics_rows(request, kind)
        limit = _limit(request, 20, 1000, options.page_cap)
        offset, has_cursor = cursor_offset(request, 0)
        body = paged(request, rows, int(offset), limit)
        body |= {
            "organization_id": "org_01Simulated",
            "data_refreshed_at": datetime.now(UTC).isoformat(),
        }
        return await respond(endpoint, "anthropic", body, int(offset) // limit + 1, has_cursor)

    @app.get("/v1/organizations/analytics/user_usage_report")
    async def analytics_usage(request: Request) -> Response:
        return await analytics(request, "usage", "analytics/user_usage_report")

    @app.get("/v1/organizations/analytics/user_cost_report")
    async def analytics_cost(request: Request) -> Response:
        return await analytics(request, "cost", "analytics/user_cost_report")

    # --- control plane --------------------------------------------------------------------------

    @app.post("/_sim/faults/{endpoint:path}")
    async def add_fault(endpoint: str, spec: FaultSpec) -> dict[str, Any]:
        faults.add(endpoint, spec)
        return faults.describe()

    @app.delete("/_sim/faults")
    async def clear_faults() -> dict[str, Any]:
        faults.clear()
        return {}

    @app.get("/_sim/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": faults.describe(), "hits": faults.hits, "requests": counts}

    @app.post("/_sim/restate")
    async def restate(request: RestateRequest) -> dict[str, Any]:
        people = truth.restate(request.kind, request.day, request.people)
        return {"kind": request.kind, "day": request.day.isoformat(), "people": sorted(people)}

    @app.get("/_sim/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
