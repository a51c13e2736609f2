"""The dashboard's pages (GET): overview, people, a person, seats, coverage, runs, alerts.

Each page is the same figures the API answers, read through `app.orchestration.dashboard`
(rollups) or the API's own orchestration and repositories; a visitor without a session or a
valid bearer token is sent to the login form.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import URL

from app.api import database
from app.api.runtime import runtime_of
from app.api.schemas import RunOut
from app.orchestration import dashboard, insights
from app.orchestration.accounts import coverage_parts
from app.orchestration.dashboard import PeopleQuery
from app.orchestration.run_request import utc_today
from app.orchestration.sources.registry import REGISTRY
from app.repositories import alerts as alerts_repo
from app.repositories import coverage as coverage_repo
from app.repositories import runs as runs_repo
from app.repositories.dashboard import PEOPLE_SORTS
from app.web import views
from app.web.render import new_nonce, page
from app.web.session import Viewer, viewer_of

router = APIRouter(include_in_schema=False)
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(str(URL("/ui/login").include_query_params(next=target)), 303)


def _month(value: str | None) -> date:
    if value is None:
        return (utc_today() - timedelta(days=1)).replace(day=1)
    return date(int(value[:4]), int(value[5:]), 1)


Page = Callable[[Viewer], Awaitable[Response]]


async def _as_viewer(request: Request, render: Page) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return _login_redirect(request)
    return await render(viewer)


@router.get("/", response_class=RedirectResponse)
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", 303)


@router.get("/ui/", response_class=HTMLResponse)
async def overview_page(request: Request, month: Month = None) -> Response:
    async def render(viewer: Viewer) -> Response:
        found = await dashboard.overview(runtime_of(request).pool, _month(month))
        nonce = new_nonce()
        return page(request, viewer, "overview.html", nonce=nonce, o=found,
                    charts=views.overview_charts(found, nonce))  # fmt: skip

    return await _as_viewer(request, render)


@router.get("/ui/people", response_class=HTMLResponse)
async def people_page(
    request: Request,
    month: Month = None,
    q: Annotated[str, Query(max_length=200)] = "",
    team: Annotated[str, Query(max_length=200)] = "",
    tool: Annotated[str, Query(max_length=50)] = "",
    sort: Annotated[str, Query(pattern="^(" + "|".join(PEOPLE_SORTS) + ")$")] = "billed",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    query = PeopleQuery(_month(month), q.strip(), team, tool, sort, order == "desc", page_no)

    async def render(viewer: Viewer) -> Response:
        found = await dashboard.people(runtime_of(request).pool, query)
        return page(request, viewer, "people.html", p=found, sorts=PEOPLE_SORTS)

    return await _as_viewer(request, render)


@router.get("/ui/people/{email}", response_class=HTMLResponse)
async def person_page(request: Request, email: str, month: Month = None) -> Response:
    async def render(viewer: Viewer) -> Response:
        found = await dashboard.person(runtime_of(request).pool, email, _month(month))
        nonce = new_nonce()
        return page(request, viewer, "person.html", nonce=nonce, p=found,
                    chart=views.person_chart(found, nonce))  # fmt: skip

    return await _as_viewer(request, render)


@router.get("/ui/seats", response_class=HTMLResponse)
async def seats_page(request: Request) -> Response:
    async def render(viewer: Viewer) -> Response:
        runtime = runtime_of(request)
        report = await insights.seats(runtime.pool, runtime.settings, utc_today() - timedelta(1))
        return page(request, viewer, "seats.html", r=report, groups=views.seat_groups(report))

    return await _as_viewer(request, render)


@router.get("/ui/coverage", response_class=HTMLResponse)
async def coverage_page(request: Request, month: Month = None) -> Response:
    first, through = dashboard.month_window(_month(month))

    async def render(viewer: Viewer) -> Response:
        last = max(first, through)
        async with database.connection(request) as connection:
            parts = await coverage_parts(
                connection, runtime_of(request).settings, None, None, first, last
            )
            days = await coverage_repo.coverage(connection, parts, first, last)
        previous = (first - timedelta(days=1)).replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return page(
            request, viewer, "coverage.html", month=first, symbols=views.STATE_SYMBOLS,
            grid=views.coverage_grid(days, parts, first, through),
            prev_month=previous.strftime("%Y-%m"),
            next_month=following.strftime("%Y-%m") if following <= utc_today() else None,
        )  # fmt: skip

    return await _as_viewer(request, render)


@router.get("/ui/runs", response_class=HTMLResponse)
async def runs_page(request: Request) -> Response:
    return await _as_viewer(request, lambda viewer: runs_listing(request, viewer))


async def runs_listing(
    request: Request, viewer: Viewer, error: str | None = None, status: int = 200
) -> Response:
    """The latest runs and the trigger form; with `error`, why the form queued nothing."""
    async with database.connection(request) as connection:
        runs = await runs_repo.list_runs(connection, status=None, trigger=None, limit=30,
                                         before=None)  # fmt: skip
    return page(request, viewer, "runs.html", status=status, error=error,
                runs=[RunOut.from_record(r) for r in runs], sources=REGISTRY.names())  # fmt: skip


async def _run_page(request: Request, run_id: uuid.UUID, template: str) -> Response:
    async def render(viewer: Viewer) -> Response:
        async with database.connection(request) as connection:
            found = await runs_repo.get_run(connection, run_id)
        if found is None:
            return page(request, viewer, "missing.html", status=404, what=f"run {run_id}")
        return page(request, viewer, template, run=RunOut.from_record(found))

    return await _as_viewer(request, render)


@router.get("/ui/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: uuid.UUID) -> Response:
    return await _run_page(request, run_id, "run.html")


@router.get("/ui/runs/{run_id}/progress", response_class=HTMLResponse)
async def run_progress(request: Request, run_id: uuid.UUID) -> Response:
    """The run page's progress table alone: what its script swaps in every two seconds."""
    return await _run_page(request, run_id, "run_progress.html")


@router.get("/ui/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request) -> Response:
    async def render(viewer: Viewer) -> Response:
        pool = runtime_of(request).pool
        statuses = await dashboard.budget_statuses(pool, _month(None))
        async with pool.acquire() as connection:
            alerts = await alerts_repo.recent_alerts(connection, 50)
        return page(request, viewer, "alerts.html", budgets=statuses, alerts=alerts)

    return await _as_viewer(request, render)
