"""The Anthropic Admin API: Claude Code analytics, the messages usage and cost reports (daily
buckets oldest first, empty days included, a big day split across pages), and the api_keys,
users and workspaces lists (`after_id` paging). `workspace_id: null` is the Default Workspace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.simulator.model import GroundTruth
from app.simulator.plumbing import (
    anthropic_auth,
    anthropic_error,
    bad_request,
    cursor_offset,
    encode_cursor,
    page_limit,
    paged,
    parse_rfc3339,
    respond,
    simulated,
)

router = APIRouter(prefix="/v1/organizations")

Render = Callable[[date], list[dict[str, Any]]]


def _admin(request: Request) -> GroundTruth:
    sim = simulated(request)
    anthropic_auth(request, sim.options.admin_api_key)
    return sim.truth


@router.get("/usage_report/claude_code")
async def claude_code(request: Request) -> Response:
    truth = _admin(request)
    raw_day = request.query_params.get("starting_at", "")
    try:
        day = date.fromisoformat(raw_day[:10])
    except ValueError:
        return anthropic_error(400, "invalid_request_error", "starting_at must be YYYY-MM-DD")
    limit = page_limit(request, 20, 1000, simulated(request).options.page_cap)
    offset, has_cursor = cursor_offset(request, 0)
    body = paged(request, truth.claude_code_records(day), int(offset), limit)
    page = int(offset) // limit + 1
    return await respond(request, "usage_report/claude_code", "anthropic", body, page, has_cursor)


def _bucket_days(request: Request, truth: GroundTruth) -> list[date]:
    start = parse_rfc3339(request.query_params.get("starting_at"), "starting_at")
    raw_end = request.query_params.get("ending_at")
    end = parse_rfc3339(raw_end, "ending_at") if raw_end else start + timedelta(days=7)
    if request.query_params.get("bucket_width", "1d") != "1d":
        raise bad_request("simulator serves 1d buckets")
    if end <= start:
        raise bad_request("ending_at must be after starting_at")
    return list(truth.days(start.date(), (end - timedelta(microseconds=1)).date()))


def _bucket(day: date, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "starting_at": f"{day.isoformat()}T00:00:00Z",
        "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
        "results": results,
    }


async def _bucket_report(request: Request, endpoint: str, render: Render) -> Response:
    truth = _admin(request)
    options = simulated(request).options
    days = _bucket_days(request, truth)
    limit = page_limit(request, 7, 31, options.bucket_cap)
    offset, has_cursor = cursor_offset(request, [0, 0, 1])
    day_index, result_index, page = int(offset[0]), int(offset[1]), int(offset[2])
    buckets: list[dict[str, Any]] = []
    budget = options.page_cap or 10_000  # results per page; a big day spans pages
    while day_index < len(days) and len(buckets) < limit and budget > 0:
        results = render(days[day_index])
        take = results[result_index : result_index + budget]
        buckets.append(_bucket(days[day_index], take))
        budget -= max(1, len(take))
        if result_index + len(take) < len(results):
            result_index += len(take)
            break
        day_index, result_index = day_index + 1, 0
    more = day_index < len(days)
    body = {
        "data": buckets,
        "has_more": more,
        "next_page": encode_cursor(request, [day_index, result_index, page + 1]) if more else None,
    }
    return await respond(request, endpoint, "anthropic", body, page, has_cursor)


MESSAGES_DIMENSIONS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
)
MESSAGES_COUNTS = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")


def _grouped(results: list[dict[str, Any]], group_by: set[str]) -> list[dict[str, Any]]:
    """As the report groups: a dimension not asked for is null, and results that then share
    every dimension are one result (account ids not grouped by: the rows add up)."""
    if group_by >= set(MESSAGES_DIMENSIONS):
        return results
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for result in results:
        shown = {**result, **{d: None for d in MESSAGES_DIMENSIONS if d not in group_by}}
        key = tuple(shown[d] for d in MESSAGES_DIMENSIONS)
        if (into := merged.get(key)) is None:
            merged[key] = {
                **shown,
                "cache_creation": dict(shown["cache_creation"]),
                "server_tool_use": dict(shown["server_tool_use"]),
            }
            continue
        for count in MESSAGES_COUNTS:
            into[count] += shown[count]
        for nested in ("cache_creation", "server_tool_use"):
            for name, value in shown[nested].items():
                into[nested][name] += value
    return list(merged.values())


def _usage_results(truth: GroundTruth, group_by: set[str]) -> Render:
    def render(day: date) -> list[dict[str, Any]]:
        if day in truth.inexact_cost_days:
            return _grouped([_inexact(result) for result in rendered(day)], group_by)
        return _grouped(rendered(day), group_by)

    def rendered(day: date) -> list[dict[str, Any]]:
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
                "account_id": row.account_id,
                "service_account_id": row.service_account_id,
            }
            for row in truth.usage_rows(day)
        ]

    return render


def _inexact(result: dict[str, Any]) -> dict[str, Any]:
    """As the documents allow: the usage report says `flex` where the cost report says
    `standard`, and an older day's usage lacks `context_window` and `inference_geo`."""
    tier = "flex" if result["service_tier"] == "standard" else result["service_tier"]
    return {**result, "service_tier": tier, "context_window": None, "inference_geo": None}


@router.get("/usage_report/messages")
async def messages(request: Request) -> Response:
    truth = simulated(request).truth
    group_by = set(request.query_params.getlist("group_by[]"))
    return await _bucket_report(request, "usage_report/messages", _usage_results(truth, group_by))


@router.get("/cost_report")
async def cost(request: Request) -> Response:
    truth = simulated(request).truth
    return await _bucket_report(request, "cost_report", truth.cost_lines)


def _api_keys(truth: GroundTruth, request: Request) -> list[dict[str, Any]]:
    """Keys of the `status` asked for; without one, only active keys (the documents do not
    say what the default is, so the simulator takes the reading that loses the most)."""

    def creator(index: int | None) -> dict[str, str] | None:
        return None if index is None else {"id": truth.people[index].user_id, "type": "user"}

    status = request.query_params.get("status", "active")
    ours = simulated(request).options
    listed = []
    if ours.compliance_key_expires_at is not None and status == "active":
        key = ours.compliance_api_key
        listed.append({
            "id": "apikey_compliance_export", "type": "api_key", "name": "compliance export",
            "workspace_id": None, "created_at": "2026-07-01T00:00:00Z", "created_by": None,
            "expires_at": ours.compliance_key_expires_at,
            "partial_key_hint": f"{key[:12]}...{key[-4:]}", "status": "active",
        })  # fmt: skip
    return listed + [
        {
            "id": key.id,
            "type": "api_key",
            "name": truth.key_name(key),
            "workspace_id": key.workspace_id,
            "created_at": key.created_at,
            "created_by": creator(key.creator_index),
            "expires_at": None,
            "partial_key_hint": None,
            "status": truth.key_status(key),
        }
        for key in truth.keys
        if truth.key_status(key) == status
    ]


def _users(truth: GroundTruth, request: Request) -> list[dict[str, Any]]:
    """Current members only: people who left are not listed."""
    return [
        {
            "id": person.user_id,
            "type": "user",
            "email": person.shown_email("users"),
            "name": person.name,
            "role": "developer",
            "added_at": "2025-09-01T00:00:00Z",
        }
        for person in truth.current_users()
    ]


def _workspaces(truth: GroundTruth, request: Request) -> list[dict[str, Any]]:
    archived = request.query_params.get("include_archived") == "true"
    listed = [ws for ws in truth.workspaces() if archived or ws["archived_at"] is None]
    shown = {"type": "workspace", "created_at": "2025-09-01T00:00:00Z", "display_color": "#6C5BB9"}
    return [{**workspace, **shown} for workspace in listed]


LISTS: dict[str, Callable[[GroundTruth, Request], list[dict[str, Any]]]] = {
    "api_keys": _api_keys,
    "users": _users,
    "workspaces": _workspaces,
}


@router.get("/{endpoint}")
async def listing(request: Request, endpoint: str) -> Response:
    """The `after_id`-paged lists (`include_archived=true` adds archived workspaces; keys
    filter by `status`)."""
    render = LISTS.get(endpoint)
    if render is None:
        return anthropic_error(404, "not_found_error", f"no such list: {endpoint}")
    truth = _admin(request)
    items = render(truth, request)
    limit = page_limit(request, 20, 1000, simulated(request).options.page_cap)
    after = request.query_params.get("after_id")
    ids = [str(item["id"]) for item in items]
    if after and after not in ids:
        return anthropic_error(400, "invalid_request_error", "after_id not found")
    start = ids.index(after) + 1 if after else 0
    chunk = items[start : start + limit]
    body = {
        "data": chunk,
        "has_more": start + limit < len(items),
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
    }
    return await respond(request, endpoint, "anthropic", body, start // limit + 1, bool(after))
