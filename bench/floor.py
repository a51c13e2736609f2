"""The rate-limit floor: the fewest requests a window needs, and the least time they take.

An ideal client — no processing, no retries, every documented maximum page size, every range
as long as the documents allow — walks each endpoint a source needs over the window, against
an in-process simulator with the same truth as the benchmark's. What it counts is the minimum
any client can make against that upstream; the floor time of a budget is its minimum requests
at the documented rate, and a run of several sources is bound by the slowest budget (each
upstream limits its requests on its own).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from app.simulator.app import SimulatorOptions, create_simulator
from app.simulator.model import GroundTruth
from app.simulator.rate_limits import BUDGETS, budget_of
from app.upstreams.anthropic.client import (
    API_KEY_STATUSES,
    COST_GROUP_BY,
    MESSAGES_GROUP_BY,
)

# The endpoints each source needs (the directory lists serve every Admin API source once).
LISTS = ("api_keys", "users", "workspaces")
SOURCE_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "cursor": ("daily-usage-data",),
    "cursor_spend": ("filtered-usage-events", "teams/spend"),
    "claude_code": ("usage_report/claude_code", *LISTS),
    "claude_usage": ("usage_report/messages", *LISTS),
    "claude_cost": ("cost_report", "usage_report/messages", *LISTS),
    "claude_ai": (
        "compliance/activities",
        "analytics/user_usage_report",
        "analytics/user_cost_report",
        "analytics/usage_report",
        "analytics/cost_report",
    ),
}
CURSOR_MAX_DAYS = 30
ANALYTICS_MAX_DAYS = 31
PAGE_MAX = 1000  # Cursor pageSize (its own example), Anthropic list and Analytics `limit`
REPORT_MAX_BUCKETS = 31
ACTIVITIES_MAX = 5000


def _ms(day: date, end: bool = False) -> int:
    moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
    return int(moment.timestamp() * 1000) - (1 if end else 0)


def _at(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _chunks(start: date, end: date, days: int) -> list[tuple[date, date]]:
    chunks, cursor = [], start
    while cursor <= end:
        last = min(end, cursor + timedelta(days=days - 1))
        chunks.append((cursor, last))
        cursor = last + timedelta(days=1)
    return chunks


class _IdealClient:
    def __init__(self, client: httpx.AsyncClient, options: SimulatorOptions) -> None:
        self.client = client
        basic = base64.b64encode(f"{options.cursor_api_key}:".encode()).decode()
        self.cursor = {"authorization": f"Basic {basic}"}
        version = {"anthropic-version": "2023-06-01"}
        self.admin = {"x-api-key": options.admin_api_key, **version}
        self.compliance = {"x-api-key": options.compliance_api_key, **version}
        self.analytics = {"x-api-key": options.analytics_api_key, **version}

    async def _json(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        response = await self.client.request(method, path, headers=headers, **kw)
        response.raise_for_status()
        return response.json()

    async def numbered(
        self, path: str, body: dict[str, Any], done: Callable[[dict[str, Any], int], bool]
    ) -> int:
        page = 1
        while not done(
            await self._json("POST", path, self.cursor, json={**body, "page": page}), page
        ):
            page += 1
        return page

    async def next_page(self, path: str, headers: dict[str, str], params: list[Any]) -> int:
        pages, cursor = 0, None
        while True:
            body = await self._json(
                "GET", path, headers, params=params + ([("page", cursor)] if cursor else [])
            )
            pages += 1
            cursor = body.get("next_page")
            if not cursor:
                return pages

    async def after_id(self, path: str, headers: dict[str, str], params: list[Any]) -> int:
        pages, after = 0, None
        while True:
            body = await self._json(
                "GET", path, headers, params=params + ([("after_id", after)] if after else [])
            )
            pages += 1
            if not body.get("has_more"):
                return pages
            after = body["last_id"]


async def _walk(ideal: _IdealClient, start: date, end: date) -> dict[str, int]:
    counts: dict[str, int] = {}

    def cursor_done(body: dict[str, Any], page: int) -> bool:
        return not (body.get("pagination") or {}).get("hasNextPage")

    counts["daily-usage-data"] = 0
    counts["filtered-usage-events"] = 0
    for first, last in _chunks(start, end, CURSOR_MAX_DAYS):
        window = {"startDate": _ms(first), "endDate": _ms(last, end=True), "pageSize": PAGE_MAX}
        counts["daily-usage-data"] += await ideal.numbered(
            "/teams/daily-usage-data", window, cursor_done
        )
        counts["filtered-usage-events"] += await ideal.numbered(
            "/teams/filtered-usage-events", window, cursor_done
        )
    counts["teams/spend"] = await ideal.numbered(
        "/teams/spend",
        {"pageSize": PAGE_MAX},
        lambda body, page: not body.get("teamMemberSpend") or page >= (body.get("totalPages") or 1),
    )
    org = "/v1/organizations"
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    counts["usage_report/claude_code"] = 0
    for day in days:  # the endpoint reads one day at a time
        counts["usage_report/claude_code"] += await ideal.next_page(
            f"{org}/usage_report/claude_code",
            ideal.admin,
            [("starting_at", day.isoformat()), ("limit", PAGE_MAX)],
        )
    for endpoint, group_by in (("usage_report/messages", MESSAGES_GROUP_BY),
                               ("cost_report", COST_GROUP_BY)):  # fmt: skip
        counts[endpoint] = await ideal.next_page(
            f"{org}/{endpoint}",
            ideal.admin,
            [("starting_at", _at(start)), ("ending_at", _at(end + timedelta(days=1))),
             ("bucket_width", "1d"), ("limit", REPORT_MAX_BUCKETS),
             *[("group_by[]", dimension) for dimension in group_by]],
        )  # fmt: skip
    counts["api_keys"] = 0
    for status in API_KEY_STATUSES:  # the list's default status is not documented
        counts["api_keys"] += await ideal.after_id(
            f"{org}/api_keys", ideal.admin, [("limit", PAGE_MAX), ("status", status)]
        )
    counts["users"] = await ideal.after_id(f"{org}/users", ideal.admin, [("limit", PAGE_MAX)])
    counts["workspaces"] = await ideal.after_id(
        f"{org}/workspaces", ideal.admin, [("limit", PAGE_MAX), ("include_archived", "true")]
    )
    counts["compliance/activities"] = await ideal.after_id(
        "/v1/compliance/activities",
        ideal.compliance,
        [("created_at.gte", _at(start)), ("created_at.lt", _at(end + timedelta(days=1))),
         ("limit", ACTIVITIES_MAX)],
    )  # fmt: skip
    analytics = {  # rows per page for the people's reports, daily buckets for the org's
        "analytics/user_usage_report": PAGE_MAX, "analytics/user_cost_report": PAGE_MAX,
        "analytics/usage_report": REPORT_MAX_BUCKETS, "analytics/cost_report": REPORT_MAX_BUCKETS,
    }  # fmt: skip
    for endpoint, limit in analytics.items():
        counts[endpoint] = 0
        for first, last in _chunks(start, end, ANALYTICS_MAX_DAYS):
            counts[endpoint] += await ideal.next_page(
                f"{org}/{endpoint}",
                ideal.analytics,
                [("starting_at", _at(first)), ("ending_at", _at(last + timedelta(days=1))),
                 ("bucket_width", "1d"), ("group_by[]", "product"), ("limit", limit)],
            )  # fmt: skip
    return counts


async def minimum_requests(users: int, start: date, end: date, seed: int = 7) -> dict[str, int]:
    """The fewest requests per endpoint for [start, end], walked by the ideal client."""
    options = SimulatorOptions()
    app = create_simulator(GroundTruth(seed=seed, users=users), options)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        return await _walk(_IdealClient(client, options), start, end)


def per_source(endpoint_counts: dict[str, int], sources: tuple[str, ...]) -> dict[str, int]:
    """Requests a set of sources needs in one run: every endpoint they read, read once."""
    endpoints = {endpoint for source in sources for endpoint in SOURCE_ENDPOINTS[source]}
    return {endpoint: endpoint_counts.get(endpoint, 0) for endpoint in sorted(endpoints)}


def floor_seconds(endpoint_counts: dict[str, int], scale: float = 1.0) -> dict[str, float]:
    """Per rate-limit budget: its requests at its documented rate (×scale), in seconds."""
    per_budget: dict[str, int] = {}
    for endpoint, requests in endpoint_counts.items():
        budget = budget_of(endpoint)
        if budget is not None:
            per_budget[budget] = per_budget.get(budget, 0) + requests
    return {
        budget: requests / (BUDGETS[budget][0] * scale) * 60
        for budget, requests in per_budget.items()
    }
