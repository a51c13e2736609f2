"""GET /insights/spend, /insights/adoption, /insights/seats, /insights/forecast and /digest:
answers over every tool and account, each figure saying what is final and what is billed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from pydantic_core import to_json

from app.api.auth import READ
from app.api.problems import PROTECTED, ProblemError, documented
from app.api.runtime import runtime_of
from app.api.schemas import IsoDate
from app.orchestration import insights
from app.orchestration.digest import build_digest
from app.orchestration.insights import InsightError
from app.orchestration.run_request import utc_today

router = APIRouter(tags=["insights"], dependencies=[READ], responses=PROTECTED)


class SpendOut(BaseModel):
    group: dict[str, str] = Field(description="The group's value of each `group_by` dimension.")
    billed_usd: Decimal = Field(description="On the invoices (exact).")
    billed_provisional_usd: Decimal = Field(description="Of it, on days that may still move.")
    estimated_usd: Decimal = Field(description="Computed from list prices.")
    estimated_provisional_usd: Decimal
    consumption_usd: Decimal = Field(description="Consumption signals at list price, not bills.")
    consumption_provisional_usd: Decimal
    people: int


class SpendAnswer(BaseModel):
    start: date
    end: date
    group_by: list[str]
    rows: list[SpendOut]


def _window(
    request: Request, start: date | None, end: date | None, days: int = 30
) -> tuple[date, date]:
    """The asked window (default: the last `days` complete days), within EARLIEST_DAY and
    yesterday."""
    earliest, today = runtime_of(request).settings.earliest_day, utc_today()
    for name, value in (("start", start), ("end", end)):
        if value is not None and value < earliest:
            raise ProblemError(422, f"{name} {value} is before EARLIEST_DAY ({earliest})")
    end = end or today - timedelta(days=1)
    start = start or max(earliest, end - timedelta(days=days - 1))
    try:
        insights.check_window(start, end, today)
    except InsightError as exc:
        raise ProblemError(422, str(exc)) from None
    return start, end


@router.get(
    "/insights/spend",
    response_model=SpendAnswer,
    summary="Spend over a window, grouped by tool, platform, account, team, person, day/week/month",
    responses=documented(401, 403, 422),
)
async def get_spend(
    request: Request,
    start: Annotated[IsoDate | None, Query(description="First UTC day.")] = None,
    end: Annotated[IsoDate | None, Query(description="Last UTC day (default: yesterday).")] = None,
    group_by: Annotated[list[str] | None, Query(description="Dimensions (repeat).")] = None,
) -> SpendAnswer:
    start, end = _window(request, start, end)
    try:
        keys = insights.check_group_by(group_by or [])
    except InsightError as exc:
        raise ProblemError(422, str(exc)) from None
    rows = await insights.spend(runtime_of(request).pool, start, end, keys)
    return SpendAnswer(
        start=start, end=end, group_by=keys,
        rows=[SpendOut.model_validate(row, from_attributes=True) for row in rows],
    )  # fmt: skip


class AdoptionOut(BaseModel):
    period: date
    tool: str
    platform: str
    active_people: int


class AdoptionAnswer(BaseModel):
    start: date
    end: date
    period: str
    rows: list[AdoptionOut]
    seats: dict[str, int] = Field(description="Seats held at the window's end, per tool.")


@router.get(
    "/insights/adoption",
    response_model=AdoptionAnswer,
    summary="Active people per tool and platform per day or week, beside the seats",
    responses=documented(401, 403, 422),
)
async def get_adoption(
    request: Request,
    start: Annotated[IsoDate | None, Query()] = None,
    end: Annotated[IsoDate | None, Query()] = None,
    period: Annotated[Literal["day", "week"], Query()] = "week",
) -> AdoptionAnswer:
    start, end = _window(request, start, end, 28)
    found = await insights.adoption(runtime_of(request).pool, start, end, period)
    rows = [AdoptionOut.model_validate(row, from_attributes=True) for row in found.rows]
    return AdoptionAnswer(start=start, end=end, period=period, rows=rows, seats=found.seats)


class SeatOut(BaseModel):
    tool: str
    account: str
    seat: str
    email: str | None
    plan: str | None
    since: date | None
    last_active: date | None
    active_days: int
    status: str = Field(description="active, light, idle, new (grace) or no_data.")
    monthly_price_usd: Decimal | None = Field(description="Null: no price set (unknown).")


class SeatsAnswer(BaseModel):
    start: date
    end: date
    reclaimable_usd: Decimal = Field(description="What the idle seats with a price cost a month.")
    idle_everywhere: list[str] = Field(description="People whose every seat is idle.")
    seats: list[SeatOut]


@router.get(
    "/insights/seats",
    response_model=SeatsAnswer,
    summary="Every seat of every tool: active, light, idle, new or no data",
    responses=documented(401, 403, 422),
)
async def get_seats(
    request: Request, as_of: Annotated[IsoDate | None, Query(description="Last day.")] = None
) -> SeatsAnswer:
    runtime = runtime_of(request)
    _, end = _window(request, as_of, as_of)
    report = await insights.seats(runtime.pool, runtime.settings, end)
    return SeatsAnswer(
        start=report.start, end=report.end, reclaimable_usd=report.reclaimable_usd(),
        idle_everywhere=report.idle_everywhere(),
        seats=[SeatOut.model_validate(seat, from_attributes=True) for seat in report.seats],
    )  # fmt: skip


class ForecastOut(BaseModel):
    month: date
    as_of: date
    month_to_date: Decimal
    projected: Decimal
    low: Decimal = Field(description="The 90 % range's low end.")
    high: Decimal
    budget: Decimal | None
    exhausted_on: date | None = Field(description="The day the budget runs out at this pace.")


@router.get(
    "/insights/forecast",
    response_model=ForecastOut,
    summary="Month-end billed spend of a scope, projected, with a range",
    responses=documented(401, 403, 422),
)
async def get_forecast(
    request: Request,
    scope: Annotated[str, Query(description="organization, account, team, person or tool.")] = (
        "organization"
    ),
    value: Annotated[str, Query(description="Which one (not for organization).")] = "",
    as_of: Annotated[IsoDate | None, Query(description="Default: yesterday.")] = None,
    budget: Annotated[Decimal | None, Query(gt=0)] = None,
) -> ForecastOut:
    _, end = _window(request, as_of, as_of)
    try:
        insights.scope_filter(scope, value)
    except InsightError as exc:
        raise ProblemError(422, str(exc)) from None
    found = await insights.forecast(runtime_of(request).pool, scope, value, end, end, budget)
    return ForecastOut.model_validate(found, from_attributes=True)


@router.get(
    "/digest",
    summary="The weekly digest (JSON, or Markdown with format=markdown)",
    response_class=Response,
    responses={
        200: {
            "description": "The digest of the week.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        },
        **documented(401, 403, 422),
    },
)
async def get_digest(
    request: Request,
    week: Annotated[str | None, Query(description="ISO week, e.g. 2026-W32 (default: last).")] = (
        None
    ),
    format: Annotated[Literal["json", "markdown"], Query()] = "json",
) -> Response:
    runtime = runtime_of(request)
    day = utc_today() - timedelta(days=7)
    if week is not None:
        try:
            day = date.fromisocalendar(int(week[:4]), int(week.split("W")[1]), 1)
        except (ValueError, IndexError):
            raise ProblemError(422, f"week: {week!r} is not an ISO week like 2026-W32") from None
        _window(request, day, day + timedelta(days=6))  # a complete week, after EARLIEST_DAY
    digest = await build_digest(runtime.pool, runtime.settings, day)
    if format == "markdown":
        return PlainTextResponse(digest.markdown(), media_type="text/markdown")
    # Money as exact decimal strings, as every other answer gives it.
    return Response(to_json(digest.as_json()), media_type="application/json")
