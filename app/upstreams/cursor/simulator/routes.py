"""The Cursor Admin API: daily usage (both documented modes, with the `period` echo), usage
events, this cycle's spend and the team's members. Basic auth with the key as user name and an
empty password."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.simulator.faults import TRUTH_CHANGE_KINDS
from app.simulator.model import GroundTruth
from app.simulator.plumbing import Reject, cursor_auth, cursor_error, respond, simulated
from app.simulator.world import Person
from app.upstreams.cursor.simulator.truth import CursorEvent

MAX_WINDOW_DAYS = 30

router = APIRouter()


async def _window(request: Request) -> tuple[dict[str, Any], int, int]:
    try:
        body = await request.json()
        start_ms, end_ms = int(body["startDate"]), int(body["endDate"])
    except (ValueError, KeyError, TypeError):
        raise Reject(
            cursor_error(400, "Bad Request", "startDate and endDate are required")
        ) from None
    if end_ms < start_ms:
        raise Reject(cursor_error(400, "Bad Request", "endDate must be after startDate"))
    if end_ms - start_ms > MAX_WINDOW_DAYS * 86_400_000:
        raise Reject(cursor_error(400, "Bad Request", "Date range cannot exceed 30 days"))
    return body, start_ms, end_ms


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


def _unpaged(truth: GroundTruth, members: list[Person], days: list[date]) -> list[Any]:
    """The legacy mode without page/pageSize: active rows only."""
    return [
        row
        for person in members
        for day in days
        if (row := truth.cursor_row(person, day))["isActive"]
    ]


@router.post("/teams/daily-usage-data")
async def daily_usage(request: Request) -> Response:
    cursor_auth(request)
    body, start_ms, end_ms = await _window(request)
    sim = simulated(request)
    truth = sim.truth
    days = list(truth.days(_day(start_ms), _day(end_ms)))
    members = truth.cursor_members()
    period = {"startDate": start_ms, "endDate": end_ms}
    page, page_size = body.get("page"), body.get("pageSize")
    if page is None or page_size is None:
        payload = {"data": _unpaged(truth, members, days), "period": period}
        return await respond(request, "daily-usage-data", "cursor", payload, 1, False)
    page, page_size = int(page), int(page_size)
    change = sim.faults.take("daily-usage-data", page, page > 1, kinds=TRUTH_CHANGE_KINDS)
    if change is not None:  # between two page requests, the team changed
        if change.kind == "member_joins":
            truth.cursor_member_joins(change.value)
        else:
            truth.cursor_member_leaves(change.value)
        members = truth.cursor_members()
    if sim.options.page_cap:
        page_size = min(page_size, sim.options.page_cap)
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
    return await respond(request, "daily-usage-data", "cursor", payload, page, page > 1)


@router.get("/teams/members")
async def members(request: Request) -> Response:
    cursor_auth(request)
    truth = simulated(request).truth
    listed = [
        {
            "id": f"user_{person.cursor_user_id}",
            "name": person.name,
            "email": person.shown_email("cursor"),
            "role": "owner" if person.index == 0 else "member",
            "isRemoved": False,
        }
        for person in truth.cursor_members()
    ]
    return await respond(request, "teams/members", "cursor", {"teamMembers": listed}, 1, False)


@router.post("/teams/filtered-usage-events")
async def usage_events(request: Request) -> Response:
    """Events with startDate ≤ timestamp ≤ endDate (both inclusive, ms), newest first, paged by
    offset (`pageSize` default 100, at most 1000); nothing after the present."""
    cursor_auth(request)
    body, start_ms, end_ms = await _window(request)
    sim = simulated(request)
    truth = sim.truth
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    end_ms = min(end_ms, now_ms)

    def window() -> list[CursorEvent]:
        return [
            event
            for day in reversed(list(truth.days(_day(start_ms), _day(max(start_ms, end_ms)))))
            for event in truth.cursor_events(day)
            if start_ms <= event.timestamp <= end_ms
        ]

    page = int(body.get("page") or 1)
    change = sim.faults.take("filtered-usage-events", page, page > 1, kinds=TRUTH_CHANGE_KINDS)
    if change is not None and change.kind == "events_arrive":  # between two page requests
        truth.cursor_events_arrive(_day(start_ms), int(change.value or 1))
    # An `empty_day` answers as the real endpoint would: no events, no further page.
    emptied = {
        spec.field
        for spec in sim.faults.faults.get("filtered-usage-events", [])
        if spec.kind == "empty_day" and spec.times != 0
    }
    events = [
        event
        for event in truth.views.get("cursor_event_window", (start_ms, end_ms), 8, window)
        if not emptied or _day(event.timestamp).isoformat() not in emptied
    ]
    page_size = min(int(body.get("pageSize") or 100), 1000)
    if sim.options.page_cap:
        page_size = min(page_size, sim.options.page_cap)
    pages = max(1, -(-len(events) // page_size))
    chosen = events[(page - 1) * page_size : page * page_size]
    payload = {
        "totalUsageEventsCount": len(events),
        "pagination": {
            "numPages": pages,
            "currentPage": page,
            "pageSize": page_size,
            "hasNextPage": page < pages,
            "hasPreviousPage": page > 1,
        },
        "usageEvents": [truth.render_cursor_event(event) for event in chosen],
        "period": {"startDate": start_ms, "endDate": end_ms},
    }
    return await respond(request, "filtered-usage-events", "cursor", payload, page, page > 1)


@router.post("/teams/spend")
async def spend(request: Request) -> Response:
    """This cycle's spend per current member, consistent with the usage events."""
    cursor_auth(request)
    body = await request.json()
    truth = simulated(request).truth
    first, spend_cents = truth.cursor_spend(datetime.now(UTC))
    members = []
    for n, person in enumerate(truth.cursor_members()):
        on_demand, overall = spend_cents[person.index]
        if n == 0:
            overall += truth.cursor_spend_drift_cents
        entry: dict[str, Any] = {
            "userId": f"user_{person.cursor_user_id}",
            "name": person.name,
            "email": person.shown_email("cursor"),
            "role": "owner" if person.index == 0 else "member",
            "fastPremiumRequests": 0,
            "hardLimitOverrideDollars": 0,
            "monthlyLimitDollars": None,
        }
        if truth.cursor_spend_old_shape:  # older copies: spendCents was the total
            entry["spendCents"] = overall
        else:
            entry |= {"spendCents": on_demand, "overallSpendCents": overall}
        members.append(entry)
    page = int(body.get("page") or 1)
    page_size = int(body.get("pageSize") or 100)
    pages = max(1, -(-len(members) // page_size))
    midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
    payload = {
        "teamMemberSpend": members[(page - 1) * page_size : page * page_size],
        "subscriptionCycleStart": int(midnight.timestamp() * 1000),
        "totalMembers": len(members),
        "totalPages": pages,
    }
    return await respond(request, "teams/spend", "cursor", payload, page, page > 1)
