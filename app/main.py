"""App factory and lifespan: one pool, one httpx client, the run worker and the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import health
from app.api.problems import install_problem_handlers
from app.config import Settings, load_settings
from app.ingestion.factory import build_http_client
from app.logs import configure_logging, get_logger
from app.repositories.database import create_pool, resolve_dsn
from app.repositories.embedded import release_embedded
from app.repositories.migrations import upgrade_to_head_async

log = get_logger(__name__)


def create_app(settings: Settings | None = None, *, migrate: bool = False) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        app.state.shutting_down = False
        dsn = await asyncio.to_thread(resolve_dsn, settings)
        if migrate:
            await upgrade_to_head_async(dsn)
        app.state.pool = await create_pool(settings, dsn)
        app.state.http = build_http_client(settings)
        log.info("service started", embedded_database=settings.database_url is None)
        try:
            yield
        finally:
            app.state.shutting_down = True
            await app.state.http.aclose()
            await app.state.pool.close()
            await asyncio.to_thread(release_embedded)
            log.info("service stopped")

    app = FastAPI(
        title="ai-usage-pipeline",
        version="0.1.0",
        description="Daily Cursor and Claude usage, attributed and costed, in PostgreSQL.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.shutting_down = False
    install_problem_handlers(app)
    app.include_router(health.router)
    return app
