"""Running a planned window through the job, and reading the coverage ledger, in tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg

from app.accounts import DEFAULT_ACCOUNT, AccountSource
from app.config import Settings
from app.ingestion.factory import build_http_client
from app.orchestration.daily_job import RunOutcome
from app.orchestration.parts import execute_run
from app.orchestration.run_request import PlannedRun, stored_run
from app.orchestration.sources.registry import REGISTRY
from app.repositories import coverage as coverage_repo
from app.repositories import runs as runs_repo
from app.vocabulary import CoverageState, RunStatus, RunTrigger
from tests.support.services import Simulator

# Every built-in source the test simulator's settings configure (all but Copilot's, which
# `Simulator.copilot()` adds), as the registry lists them.
ALL = tuple(REGISTRY.configured(Simulator.unstarted().settings()))


async def execute_plan(
    pool: asyncpg.Pool,
    settings: Settings,
    plan: PlannedRun,
    trigger: RunTrigger = RunTrigger.SCHEDULE,
) -> tuple[uuid.UUID, RunOutcome]:
    """Create the plan's run with its parts claimed by this process, and execute them all."""
    async with pool.acquire() as connection:
        run_id = await runs_repo.create_run(
            connection, stored_run(plan), trigger=trigger, status=RunStatus.RUNNING,
            worker_id="test",
        )  # fmt: skip
    assert run_id is not None
    async with build_http_client(settings) as http:
        outcome = await execute_run(
            pool=pool, http=http, settings=settings, run_id=run_id, plan=plan, trigger=trigger
        )
    return run_id, outcome


async def run_plan(
    pool: asyncpg.Pool, sim: Simulator, plan: PlannedRun, **overrides: Any
) -> tuple[uuid.UUID, RunOutcome]:
    return await execute_plan(pool, sim.settings(**overrides), plan)


async def states(
    pool: asyncpg.Pool,
    sources: tuple[str, ...],
    start: date,
    end: date,
    account: str = DEFAULT_ACCOUNT,
) -> dict[tuple[str, date], CoverageState]:
    parts = [AccountSource(account, source) for source in sources]
    async with pool.acquire() as connection:
        days = await coverage_repo.coverage(connection, parts, start, end)
    return {(day.source, day.day): day.state for day in days}
