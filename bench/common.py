"""Shared benchmark plumbing: a scratch database, timing, medians, machine facts."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from app.config import Settings
from app.ingestion.factory import build_http_client
from app.orchestration.daily_job import RunOutcome
from app.orchestration.parts import execute_run
from app.orchestration.run_request import PlannedRun, stored_run
from app.repositories import runs as runs_repo
from app.repositories.migrations import upgrade_to_head
from app.vocabulary import RunStatus, RunTrigger

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    """BENCH_DATABASE_URL, else the machine's server, else the embedded one."""
    if dsn := os.environ.get("BENCH_DATABASE_URL"):
        return dsn
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return LOCAL_SERVER
    except OSError:
        from pathlib import Path

        from app.repositories.embedded import embedded_dsn

        return embedded_dsn(Path(os.environ.get("DATA_DIR", ".data")))


def with_database(dsn: str, name: str) -> str:
    head, _, tail = dsn.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A fresh, migrated database, dropped afterwards."""
    admin = admin_dsn()
    name = f"aup_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    dsn = with_database(admin, name)
    await asyncio.to_thread(upgrade_to_head, dsn)
    try:
        yield dsn
    finally:
        connection = await asyncpg.connect(admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


async def machine(dsn: str) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        server = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    import importlib.metadata as metadata

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": server,
        "asyncpg": metadata.version("asyncpg"),
    }


async def execute_in_process(
    pool: asyncpg.Pool, settings: Settings, plan: PlannedRun
) -> tuple[float, RunOutcome]:
    """Queue the plan's run with its parts reserved for this process, execute it: (seconds,
    outcome)."""
    async with pool.acquire() as connection:
        run_id = await runs_repo.create_run(
            connection, stored_run(plan), trigger=RunTrigger.CLI, status=RunStatus.RUNNING,
            worker_id="bench",
        )  # fmt: skip
    started = time.perf_counter()
    async with build_http_client(settings) as http:
        outcome = await execute_run(
            pool=pool, http=http, settings=settings, run_id=run_id, plan=plan,
            trigger=RunTrigger.CLI,
        )  # fmt: skip
    return time.perf_counter() - started, outcome
