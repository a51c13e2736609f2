"""Connections for routes: a bounded wait for the pool, and 503 (not 500, never a hang) when
the database is busy or away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import Request

from app.api.problems import ProblemError
from app.api.runtime import runtime_of

CONNECTION_ERRORS = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    runtime = runtime_of(request)
    timeout = runtime.settings.db_acquire_timeout_seconds
    try:
        async with runtime.pool.acquire(timeout=timeout) as acquired:
            yield acquired
    except TimeoutError:
        raise ProblemError(
            503,
            f"database busy: no connection free within {timeout:g} s",
            headers={"Retry-After": "1"},
        ) from None
    except CONNECTION_ERRORS as exc:
        raise ProblemError(
            503, f"database unavailable ({type(exc).__name__})", headers={"Retry-After": "5"}
        ) from None
