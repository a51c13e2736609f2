"""The Cursor Admin API: daily usage (both documented modes, with the `period` echo) and the
team's members. Basic auth with the key as user name and an empty password."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.simulator.faults import MEMBERSHIP_KINDS
from app.simulator.model import GroundTruth, Person
from app.simulator.plumbing import Reject, cursor_auth, cursor_error, respond, simulated

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
    change = sim.faults.take("daily-usage-data", page, page > 1, kinds=MEMBERSHIP_KINDS)
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
