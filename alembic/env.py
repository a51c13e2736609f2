"""Alembic environment: runs migrations over SQLAlchemy's asyncpg dialect.

The URL is the service's own (`app.repositories.migrations.sqlalchemy_url`), passed in by
`usage-pipeline migrate` or, when alembic is called directly, resolved from the settings
(DATABASE_URL, else the embedded PostgreSQL). A session advisory lock serialises replicas
that migrate at the same time.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context

MIGRATION_LOCK_KEY = 7_243_019_551  # arbitrary, stable: "ai-usage-pipeline migrations"


def _url() -> str:
    url = context.config.attributes.get("sqlalchemy_url")
    if url:
        return str(url)
    from app.config import load_settings
    from app.repositories.database import resolve_dsn
    from app.repositories.migrations import sqlalchemy_url

    return sqlalchemy_url(resolve_dsn(load_settings()))


def _run(connection: Connection) -> None:
    # A session-level lock outlives the commit below, so it covers every migration.
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    connection.commit()
    try:
        context.configure(
            connection=connection, target_metadata=None, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()


async def _main() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_main())
