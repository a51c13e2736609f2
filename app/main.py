"""App factory and lifespan: one pool, one httpx client, the run worker (a child process by
default) and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from app import metrics
from app.api import budgets, coverage, docs, health, insights, runs, sources
from app.api import metrics as metrics_api
from app.api.limits import RequestLimits
from app.api.problems import install_problem_handlers
from app.api.runtime import Runtime, Services, Worker, install_runtime
from app.config import Settings, load_settings
from app.gc_tuning import tune_garbage_collector
from app.ingestion.factory import build_http_client
from app.logs import configure_logging, get_logger
from app.orchestration.accounts import configured_parts, unconfigured_accounts
from app.orchestration.alerts import deliver_forever
from app.orchestration.rollups import refresh_forever
from app.orchestration.scheduler import DailySchedule
from app.orchestration.sources.registry import REGISTRY
from app.orchestration.worker import RunWorker, worker_identity
from app.orchestration.worker_process import WorkerProcess
from app.repositories.database import DATABASE_ERRORS, create_pool, resolve_dsn
from app.repositories.embedded import release_embedded
from app.repositories.migrations import upgrade_to_head_async
from app.web import actions, pages

log = get_logger(__name__)

QUIET_PATHS = frozenset({"/livez", "/readyz", "/metrics"})  # probes and scrapes: no request logs


async def _start(runtime: Runtime, migrate: bool) -> DailySchedule | None:
    """Pool, HTTP client, worker, then the schedule (whose catch-up may queue a run)."""
    settings = runtime.settings
    configure_logging(settings)
    runtime.shutting_down = False
    dsn = await asyncio.to_thread(resolve_dsn, settings)
    if migrate:
        await upgrade_to_head_async(dsn)
    pool = await create_pool(settings, dsn)
    http = build_http_client(settings)
    worker: Worker
    if settings.worker_process:
        worker = WorkerProcess(settings, dsn)
    else:
        worker = RunWorker(pool=pool, http=http, settings=settings, worker_id=worker_identity())
    metrics.initialise_accounts(configured_parts(settings))
    await metrics_api.refresh_quietly(pool, settings)  # right from the first scrape
    refresher = asyncio.create_task(metrics_api.refresh_forever(pool, settings), name="metrics")
    delivery = asyncio.create_task(deliver_forever(pool, http, settings), name="alert-delivery")
    rollups = asyncio.create_task(refresh_forever(pool, settings), name="rollup-refresh")
    runtime.services = Services(pool, http, worker, refresher, delivery, rollups)
    worker.start()
    tune_garbage_collector()  # what exists now lives as long as the service
    schedule = None
    if settings.scheduler_enabled:
        schedule = DailySchedule(pool, settings, worker.wake)
        try:
            await schedule.start()
        except DATABASE_ERRORS as exc:
            # Database down at start: the cron job still fires; readiness says why.
            log.warning("schedule catch-up skipped", error=type(exc).__name__)
    log.info(
        "service started",
        embedded_database=settings.database_url is None,
        scheduler=settings.scheduler_enabled,
        accounts={a.name: REGISTRY.configured(a.settings) for a in REGISTRY.accounts(settings)},
    )
    await _warn_unconfigured(pool, settings)
    return schedule


async def _warn_unconfigured(pool: asyncpg.Pool, settings: Settings) -> None:
    """An account renamed in the file alone would start a new account beside the old data:
    say so at every start until the data is renamed too."""
    try:
        stale = await unconfigured_accounts(pool, settings)
    except DATABASE_ERRORS:
        return
    for name in stale:
        log.warning(
            "the data holds an account no configuration names; if it was renamed, run"
            f" `usage-pipeline accounts rename {name} NEW-NAME` (docs/accounts.md)",
            account=name,
        )


async def _stop(runtime: Runtime, schedule: DailySchedule | None) -> None:
    runtime.shutting_down = True
    if schedule is not None:
        schedule.shutdown()
    services = runtime.services
    if services is not None:
        services.metrics_refresh.cancel()
        services.alert_delivery.cancel()
        services.rollup_refresh.cancel()
        await services.worker.stop(runtime.settings.shutdown_deadline_seconds)
        await services.http.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(services.pool.close(), timeout=10)
    await asyncio.to_thread(release_embedded)
    log.info("service stopped")


def create_app(settings: Settings | None = None, *, migrate: bool = False) -> FastAPI:
    settings = settings or load_settings()
    REGISTRY.check_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        schedule = await _start(runtime, migrate)
        try:
            yield
        finally:
            await _stop(runtime, schedule)

    app = FastAPI(
        title="ai-usage-pipeline",
        version="0.1.0",
        description="Daily Cursor and Claude usage, attributed and costed, in PostgreSQL.",
        lifespan=lifespan,
        # Served by app.api.docs, behind the `read` scope and without a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    runtime = install_runtime(app, settings)
    install_problem_handlers(app)
    _observe_requests(app)
    _include_routers(app)
    return app


def _observe_requests(app: FastAPI) -> None:
    """Request size limits, and a metric and a log line for every request (not probes)."""
    app.add_middleware(RequestLimits)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")  # bounded: templates, not paths
            metrics.HTTP_REQUESTS.labels(
                request.method, template, metrics.status_class(status)
            ).inc()
            metrics.HTTP_DURATION.labels(request.method, template).observe(elapsed)
            if template not in QUIET_PATHS:
                log.info(
                    "request",
                    method=request.method,
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )


# Every route the service answers (tests walk them: a new one must state who may call it).
ROUTERS = (
    health.router,
    runs.router,
    sources.router,
    coverage.router,
    metrics_api.router,
    docs.router,
    insights.router,
    budgets.router,
)


# The dashboard's pages and forms (not in the OpenAPI schema; their access is tested apart).
WEB_ROUTERS = (pages.router, actions.router)


def _include_routers(app: FastAPI) -> None:
    routers = ROUTERS + WEB_ROUTERS
    for router in routers:
        app.include_router(router)
    metrics.initialise_routes(
        (method, route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
    )
    metrics.initialise_tables({source.table for source in REGISTRY})
    metrics.initialise_endpoints(REGISTRY.endpoints())
