"""Alembic from inside the service: upgrade to head and check the schema is current."""

from __future__ import annotations

import asyncio
import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

import asyncpg
from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = PROJECT_ROOT / "alembic"  # the script directory: env.py and versions/


def sqlalchemy_url(dsn: str) -> str:
    """The asyncpg DSN in SQLAlchemy's form (the dialect understands `?host=` sockets)."""
    scheme, rest = dsn.split("://", 1)
    return f"postgresql+asyncpg://{rest}" if scheme in {"postgresql", "postgres"} else dsn


def frozen_migration(name: str) -> ModuleType:
    """An earlier migration's module, for a later one to reuse its frozen definitions (a
    view's text) as they were when it ran, instead of a copy."""
    path = MIGRATIONS / "versions" / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alembic_config(dsn: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    if dsn is not None:
        config.attributes["sqlalchemy_url"] = sqlalchemy_url(dsn)
    return config


def upgrade_to_head(dsn: str) -> None:
    """Blocking; call from a thread when an event loop is running."""
    command.upgrade(alembic_config(dsn), "head")


def downgrade_to_base(dsn: str) -> None:
    command.downgrade(alembic_config(dsn), "base")


async def upgrade_to_head_async(dsn: str) -> None:
    await asyncio.to_thread(upgrade_to_head, dsn)


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no alembic revisions found")
    return head


async def current_revision(connection: asyncpg.Connection) -> str | None:
    exists = await connection.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not exists:
        return None
    value: str | None = await connection.fetchval("SELECT version_num FROM alembic_version")
    return value
