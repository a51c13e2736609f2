"""Readiness checks that touch the database."""

from __future__ import annotations

import asyncpg

from app.repositories.migrations import current_revision, head_revision

UNREACHABLE = "database unreachable"


def is_unreachable(problem: str) -> bool:
    """Whether `database_status`'s reason is that no connection could be made."""
    return problem.startswith(UNREACHABLE)


async def database_status(pool: asyncpg.Pool) -> str | None:
    """None when ready, else a short reason (never a DSN or a secret)."""
    try:
        async with pool.acquire(timeout=2.0) as connection:
            await connection.fetchval("SELECT 1")
            revision = await current_revision(connection)
    except Exception as exc:  # any failure (incl. asyncpg's internal client errors on a
        # connection the server terminated) means "not ready", never a 500
        return f"{UNREACHABLE} ({type(exc).__name__})"
    if revision != head_revision():
        return f"database schema at {revision or 'nothing'}, expected {head_revision()}"
    return None
