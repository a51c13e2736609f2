"""GET /coverage: how every (account, source, day) is known, from the coverage ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from app.api import database
from app.api.auth import READ
from app.api.problems import PROTECTED, ProblemError, documented
from app.api.runtime import runtime_of
from app.api.schemas import IsoDate
from app.config import Settings
from app.orchestration.accounts import coverage_parts
from app.orchestration.run_request import InvalidRunRequest, utc_today
from app.orchestration.sources.registry import REGISTRY
from app.repositories import coverage as coverage_repo
from app.vocabulary import CoverageState

router = APIRouter(tags=["coverage"], dependencies=[READ], responses=PROTECTED)
MAX_COVERAGE_DAYS = 366
DEFAULT_COVERAGE_DAYS = 30


class CoverageDayOut(BaseModel):
    account: str
    source: str
    day: date
    state: CoverageState
    last_run_id: uuid.UUID | None
    last_fetched_at: datetime | None
    last_rows: int | None
    final_after: datetime | None = Field(description="A fetch from this moment on is final.")
    data_refreshed_at: datetime | None = Field(description="The upstream's freshness marker.")
    last_failed_at: datetime | None
    last_error: str | None


class CoverageOut(BaseModel):
    start: date
    end: date
    counts: dict[str, dict[str, dict[CoverageState, int]]] = Field(
        description="Days per account, source and state: {account: {source: {state: days}}}."
    )
    days: list[CoverageDayOut]


@router.get(
    "/coverage",
    response_model=CoverageOut,
    summary="Days × accounts' sources: missing, failed, provisional or final, with the last fetch",
    responses=documented(401, 403, 422, 503),
)
async def get_coverage(
    request: Request,
    source: Annotated[
        list[str] | None,
        Query(description="Sources (default: configured, and every one the ledger holds)."),
    ] = None,
    account: Annotated[
        list[str] | None,
        Query(description="Accounts (default: configured, and every one the ledger holds)."),
    ] = None,
    start: Annotated[IsoDate | None, Query(description="First UTC day (YYYY-MM-DD).")] = None,
    end: Annotated[IsoDate | None, Query(description="Last UTC day (default: yesterday).")] = None,
) -> CoverageOut:
    async with database.connection(request) as connection:
        return await coverage_answer(
            connection, runtime_of(request).settings, source, account, start, end
        )


def coverage_window(start: date | None, end: date | None) -> tuple[date, date]:
    """The asked days (default: the 30 up to yesterday), at most MAX_COVERAGE_DAYS."""
    end = end or utc_today() - timedelta(days=1)
    if start is None:
        if end < date.min + timedelta(days=DEFAULT_COVERAGE_DAYS):
            raise ProblemError(422, f"end {end} leaves no room for the default start")
        start = end - timedelta(days=DEFAULT_COVERAGE_DAYS - 1)
    if end < start:
        raise ProblemError(422, f"end {end} is before start {start}")
    if (end - start).days + 1 > MAX_COVERAGE_DAYS:
        raise ProblemError(422, f"at most {MAX_COVERAGE_DAYS} days at a time")
    return start, end


async def coverage_answer(
    connection: asyncpg.Connection,
    settings: Settings,
    source: Sequence[str] | None,
    account: Sequence[str] | None,
    start: date | None,
    end: date | None,
) -> CoverageOut:
    """GET /coverage's answer (the CLI's local `coverage` too): `ProblemError` for a bad ask."""
    start, end = coverage_window(start, end)
    # Each source once, whatever the query repeats: the answer is sources × days rows, and
    # both are bounded (the registry's sources and the ledger's, MAX_COVERAGE_DAYS).
    asked = list(dict.fromkeys(source or ()))
    unknown = [name for name in asked if name not in REGISTRY]
    if unknown:
        raise ProblemError(422, f"unknown source(s): {', '.join(unknown[:10])}")
    try:
        parts = await coverage_parts(
            connection, settings, list(dict.fromkeys(account or ())), asked, start, end
        )
    except InvalidRunRequest as exc:  # an unknown account
        raise ProblemError(422, str(exc)) from None
    days = await coverage_repo.coverage(connection, parts, start, end)
    counts: dict[str, dict[str, dict[CoverageState, int]]] = {}
    for part, states in coverage_repo.count_states(days, parts).items():
        counts.setdefault(part.account, {})[part.source] = states
    return CoverageOut(
        start=start,
        end=end,
        counts=counts,
        days=[CoverageDayOut(**vars(day)) for day in days],
    )
