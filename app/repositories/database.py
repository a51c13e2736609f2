"""Connection pool and DSN resolution. The only place that opens PostgreSQL connections."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from app.config import Settings
from app.repositories.embedded import embedded_dsn

# What a lost or restarting database looks like from asyncpg: a network error, a server
# error, a closed connection, or a connection the server killed mid-protocol.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


# asyncpg writes date.min and date.max as PostgreSQL's -infinity and infinity: a range of days
# ending at either never ends (a generate_series over it does not return).
FIRST_STORABLE_DAY = date.min + timedelta(days=1)
LAST_STORABLE_DAY = date.max - timedelta(days=1)


def storable_day(day: date) -> date:
    """`day`, if PostgreSQL stores it as that day; else a ValueError naming the range."""
    if not FIRST_STORABLE_DAY <= day <= LAST_STORABLE_DAY:
        raise ValueError(f"{day} is out of range ({FIRST_STORABLE_DAY} to {LAST_STORABLE_DAY})")
    return day


def resolve_dsn(settings: Settings) -> str:
    """DATABASE_URL when set, else the embedded server's DSN (started on demand)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return embedded_dsn(settings.data_dir)


async def create_pool(settings: Settings, dsn: str) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        command_timeout=settings.db_command_timeout_seconds,
        server_settings={"application_name": "ai-usage-pipeline"},
    )
