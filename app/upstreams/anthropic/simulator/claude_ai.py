"""claude.ai's two upstreams: the Compliance activity feed (newest first, `after_id` paging)
and the Enterprise Analytics per-user usage and cost reports (cursor paging, ≤ 31-day spans).
A window's feed and a span's report rows are built once per truth and served page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.simulator.model import GroundTruth
from app.simulator.plumbing import (
    anthropic_auth,
    anthropic_error,
    bad_request,
    cursor_offset,
    page_limit,
    paged,
    parse_rfc3339,
    respond,
    simulated,
)
from app.simulator.world import PRODUCTS, ActivityEvent, Person, cents_text

router = APIRouter()

Feed = tuple[list[ActivityEvent], dict[str, int]]


def _feed(truth: GroundTruth, gte: datetime, lt: datetime) -> Feed:
    """A window's events newest first, and each id's position (for `after_id`)."""

    def build() -> Feed:
        events = [
            event
            for day in truth.days(gte.date(), (lt - timedelta(microseconds=1)).date())
            for event in truth.activity_events(day)
            if gte <= event.at < lt
        ]
        events.reverse()
        return events, {event.id: index for index, event in enumerate(events)}

    return truth.views.get("activity_feed", (gte, lt), 2, build)


@router.get("/v1/compliance/activities")
async def activities(request: Request) -> Response:
    sim = simulated(request)
    anthropic_auth(request, sim.options.compliance_api_key, sim.options.admin_api_key)
    gte = parse_rfc3339(request.query_params.get("created_at.gte"), "created_at.gte")
    lt = parse_rfc3339(request.query_params.get("created_at.lt"), "created_at.lt")
    limit = page_limit(request, 100, 5000, sim.options.page_cap)
    events, position = _feed(sim.truth, gte, lt)
    after = request.query_params.get("after_id")
    if after and after not in position:
        return anthropic_error(400, "invalid_request_error", "after_id not found")
    start = position[after] + 1 if after else 0
    chunk = [sim.truth.render_activity(event) for event in events[start : start + limit]]
    body = {
        "data": chunk,
        "has_more": start + limit < len(events),
        "first_id": chunk[0]["id"] if chunk else None,
        "last_id": chunk[-1]["id"] if chunk else None,
    }
    page = start // limit + 1
    return await respond(request, "compliance/activities", "anthropic", body, page, bool(after))


def _usage_row(common: dict[str, Any], tokens: dict[str, int]) -> dict[str, Any]:
    counted = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")
    cache_5m = tokens.get("cache_creation_5m", 0)
    return {
        **common,
        "uncached_input_tokens": tokens["uncached_input_tokens"],
        "cache_creation": {"ephemeral_5m_input_tokens": cache_5m, "ephemeral_1h_input_tokens": 0},
        "cache_read_input_tokens": tokens["cache_read_input_tokens"],
        "output_tokens": tokens["output_tokens"],
        "total_tokens": sum(tokens[k] for k in counted) + cache_5m,
        "server_tool_use": {"web_search_requests": 0},
        "requests": tokens["requests"],
    }


def _cost_row(common: dict[str, Any], cents: Decimal) -> dict[str, Any]:
    amount = cents_text(cents)
    return {**common, "currency": "USD", "amount": amount, "list_amount": amount}


def _actor(truth: GroundTruth, person: Person) -> dict[str, Any]:
    if person.index in truth.deleted_users:
        return {"type": "user_actor", "user_id": person.user_id, "name": "Deleted User",
                "email": None, "deleted": True}  # fmt: skip
    return {"type": "user_actor", "user_id": person.user_id, "name": person.name,
            "email": person.email, "deleted": False}  # fmt: skip


def _analytics_rows(
    truth: GroundTruth, kind: str, start: datetime, end: datetime, products: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    """A request span's rows, one per (person, day, product) of the products asked for — every
    product, "other" and none included, when none is asked for (the documented default; only
    `group_by[]=product` is served: the client always asks for it)."""

    def build() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for day in truth.days(start.date(), (end - timedelta(microseconds=1)).date()):
            for person in truth.people:
                for product, (tokens, cents) in truth.product_usage(person, day).items():
                    if products is not None and product not in products:
                        continue
                    common = {
                        "actor": _actor(truth, person),
                        "starting_at": f"{day.isoformat()}T00:00:00Z",
                        "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
                        "product": product,
                        "model": None,
                    }
                    rows.append(
                        _usage_row(common, tokens) if kind == "usage" else _cost_row(common, cents)
                    )
        return rows

    return truth.views.get("analytics", (kind, start, end, products), 4, build)


def _span(request: Request) -> tuple[datetime, datetime]:
    """An Analytics request's span, checked as the upstream does (its key first)."""
    anthropic_auth(request, simulated(request).options.analytics_api_key)
    start = parse_rfc3339(request.query_params.get("starting_at"), "starting_at")
    end = parse_rfc3339(request.query_params.get("ending_at"), "ending_at")
    if (end - start).days > 31:
        raise bad_request("span must be ≤ 31 days")
    return start, end


async def _served(
    request: Request, endpoint: str, items: list[Any], limits: tuple[int, int], cap: int | None
) -> Response:
    """One page of an Analytics answer, with its envelope."""
    limit = page_limit(request, *limits, cap)
    offset, has_cursor = cursor_offset(request, 0)
    body = paged(request, items, int(offset), limit)
    body |= {
        "organization_id": "org_01Simulated",
        "data_refreshed_at": datetime.now(UTC).isoformat(),
    }
    return await respond(request, endpoint, "anthropic", body, int(offset) // limit + 1, has_cursor)


async def _analytics(request: Request, kind: str, endpoint: str) -> Response:
    start, end = _span(request)
    asked = request.query_params.getlist("products[]")
    if unknown := sorted(set(asked) - set(PRODUCTS)):
        raise bad_request(f"unknown products[]: {', '.join(unknown)}")
    products = tuple(sorted(asked)) if asked else None
    several = products is None or len(products) > 1
    if request.query_params.getlist("group_by[]") != ["product"] and several:
        raise bad_request("simulator serves several products only with group_by[]=product")
    sim = simulated(request)
    rows = _analytics_rows(sim.truth, kind, start, end, products)
    return await _served(request, endpoint, rows, (20, 1000), sim.options.page_cap)


def _org_buckets(truth: GroundTruth, kind: str, start: datetime, end: datetime) -> list[Any]:
    """The organisation's daily buckets grouped by product: its seat users' rows summed, plus
    what only these reports hold (`org_analytics_extra`)."""

    def build() -> list[Any]:
        buckets = []
        for day in truth.days(start.date(), (end - timedelta(microseconds=1)).date()):
            first = datetime(day.year, day.month, day.day, tzinfo=UTC)
            rows = _analytics_rows(truth, kind, first, first + timedelta(days=1), None)
            results = _org_results(kind, rows, truth.org_analytics_extra(day))
            buckets.append({"starting_at": _z(first), "ending_at": _z(first + timedelta(days=1)),
                            "results": results})  # fmt: skip
        return buckets

    return truth.views.get("analytics_org", (kind, start, end), 4, build)


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _org_results(
    kind: str, rows: list[dict[str, Any]], extra: dict[str | None, tuple[dict[str, int], Decimal]]
) -> list[dict[str, Any]]:
    results = []
    for product in sorted({row["product"] for row in rows} | set(extra), key=lambda p: p or ""):
        mine = [row for row in rows if row["product"] == product]
        more = extra.get(product)
        if kind == "cost":
            cents = sum((Decimal(row["amount"]) for row in mine), Decimal(0))
            cents += Decimal(cents_text(more[1])) if more else Decimal(0)
            amount = format(cents, "f")
            results.append(
                {"product": product, "currency": "USD", "amount": amount, "list_amount": amount}
            )
            continue
        tokens = {name: sum(row[name] for row in mine) for name in _ORG_COUNTS}
        tokens["cache_creation_5m"] = sum(
            row["cache_creation"]["ephemeral_5m_input_tokens"] for row in mine
        )
        for name, value in (more[0] if more else {}).items():
            tokens[name] = tokens.get(name, 0) + value
        results.append(_usage_row({"product": product}, tokens))
    return results


_ORG_COUNTS = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens", "requests")


async def _org_report(request: Request, kind: str, endpoint: str) -> Response:
    start, end = _span(request)
    if request.query_params.getlist("group_by[]") != ["product"]:
        raise bad_request("simulator serves the organisation's reports grouped by product")
    sim = simulated(request)
    buckets = _org_buckets(sim.truth, kind, start, end)
    return await _served(request, endpoint, buckets, (7, 31), sim.options.bucket_cap)


@router.get("/v1/organizations/analytics/usage_report")
async def analytics_org_usage(request: Request) -> Response:
    return await _org_report(request, "usage", "analytics/usage_report")


@router.get("/v1/organizations/analytics/cost_report")
async def analytics_org_cost(request: Request) -> Response:
    return await _org_report(request, "cost", "analytics/cost_report")


@router.get("/v1/organizations/analytics/user_usage_report")
async def analytics_usage(request: Request) -> Response:
    return await _analytics(request, "usage", "analytics/user_usage_report")


@router.get("/v1/organizations/analytics/user_cost_report")
async def analytics_cost(request: Request) -> Response:
    return await _analytics(request, "cost", "analytics/user_cost_report")
