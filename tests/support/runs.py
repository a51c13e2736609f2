"""Running a planned window through the job, and reading the coverage ledger, in tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg

from app.ingestion.factory import build_http_client
from app.orchestration.daily_job import RunOutcome, RunSpec, execute_run
from app.orchestration.run_request import PlannedRun
from app.orchestration.sources.registry import REGISTRY
from app.repositories import coverage as coverage_repo
from app.repositories import runs as runs_repo
from app.vocabulary import CoverageState
from tests.support.services import Simulator

ALL = REGISTRY.names()  # every built-in source, as the registry lists them


async def run_plan(
    pool: asyncpg.Pool, sim: Simulator, plan: PlannedRun, **overrides: Any
) -> tuple[uuid.UUID, RunOutcome]:
    settings = sim.settings(**overrides)
    async with pool.acquire() as connection:
        run_id = await runs_repo.create_run(
            connection, trigger="schedule", window_start=plan.start, window_end=plan.end,
            sources=list(plan.sources), source_windows=plan.source_windows,
        )  # fmt: skip
    async with build_http_client(settings) as http:
        outcome = await execute_run(
            pool=pool,
            clients=REGISTRY.build_clients(settings, http),
            settings=settings,
            spec=RunSpec(run_id, plan),
            worker_id="test",
        )
    return run_id, outcome


async def states(
    pool: asyncpg.Pool, sources: tuple[str, ...], start: date, end: date
) -> dict[tuple[str, date], CoverageState]:
    async with pool.acquire() as connection:
        days = await coverage_repo.coverage(connection, sources, start, end)
    return {(day.source, day.day): day.state for day in days}
