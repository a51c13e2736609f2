"""A source is a module behind the `Source` contract, found through the registry: a toy source
registered only here runs through the job, the run API, run tracking and the metrics without
any of them naming it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.ingestion.pagination import Page
from app.orchestration.sources.contract import Source, SourceRun
from app.orchestration.sources.registry import REGISTRY
from app.repositories.facts import CLAUDE_TABLE
from app.upstreams.anthropic import claude_ai_transform as transform
from app.upstreams.anthropic.sources.shared import direct_directory, write_one_claude_source
from tests.integration.conftest import AUTH, serve, wait_for
from tests.support.metrics import scrape, value
from tests.support.services import Simulator

PEOPLE = ("ada@example.com", "grace@example.com")


def _events(person: str, day: date) -> int:
    return 10 * (PEOPLE.index(person) + 1) + day.day


class ToySource(Source):
    """Pages of (person, events) per day from memory, counted by the pure processing function
    of claude.ai activity and written through its repository writer."""

    name = "toy"
    table = CLAUDE_TABLE
    revision_horizon = timedelta(days=1)

    def enabled(self, settings: Settings) -> bool:
        return True

    async def _pages(self, day: date) -> AsyncIterator[Page[tuple[str, int]]]:
        for number, person in enumerate(PEOPLE, start=1):
            yield Page([(person, _events(person, day))], number)

    async def ingest(self, run: SourceRun) -> None:
        directory = direct_directory(run)
        for day in run.days:
            tally = transform.new_activity_tally()
            async for page in run.pages(self._pages(day)):
                for person, events in page.items:
                    tally[person]["activity_count"] += events
            facts = transform.activity_facts(day, tally, directory)
            await write_one_claude_source(run, day, "claude_ai_activity", facts)


@pytest.fixture
def toy() -> Iterator[ToySource]:
    source = ToySource()
    REGISTRY.register(source)
    yield source
    REGISTRY.unregister(source.name)


async def test_a_toy_source_runs_through_api_tracking_and_metrics(
    toy: ToySource, db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    settings = simulator.settings(database_url=database_dsn, worker_poll_seconds=0.2)
    window = {"start_date": "2026-08-01", "end_date": "2026-08-02", "sources": ["toy"]}
    async with serve(settings) as api:
        listed = (await api.get("/sources")).json()["sources"]
        assert {"name": "toy", "table": CLAUDE_TABLE, "configured": True} in [
            {k: s[k] for k in ("name", "table", "configured")} for s in listed
        ]
        before = await scrape(api)
        response = await api.post("/runs", json=window, headers=AUTH)
        assert response.status_code == 202, response.text
        run = await wait_for(api, response.headers["Location"])
        after = await scrape(api)

    assert run["status"] == "succeeded", run
    assert run["sources"] == ["toy"]
    (progress,) = run["progress"]
    assert (progress["source"], progress["status"], progress["target_table"]) == (
        "toy",
        "succeeded",
        CLAUDE_TABLE,
    )
    assert (progress["days_done"], progress["days_total"]) == (2, 2)
    assert (progress["pages"], progress["rows_fetched"], progress["rows_inserted"]) == (4, 4, 4)

    async with db.acquire() as connection:
        rows = await connection.fetch(
            "SELECT usage_date, user_email, activity_count FROM fact_claude_daily_usage"
        )
    assert {(r["usage_date"], r["user_email"], r["activity_count"]) for r in rows} == {
        (day, person, _events(person, day))
        for day in (date(2026, 8, 1), date(2026, 8, 2))
        for person in PEOPLE
    }

    assert (
        value(
            after,
            "ingestion_last_success_timestamp_seconds",
            "ingestion_last_success_timestamp_seconds",
            source="toy",
        )
        > 0
    )
    inserted = ("ingestion_rows", "ingestion_rows_total")
    labels = {"table": CLAUDE_TABLE, "operation": "inserted"}
    assert value(after, *inserted, **labels) - value(before, *inserted, **labels) == 4


async def test_an_unregistered_source_is_refused_by_name(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/runs", json={"sources": ["toy"]}, headers=AUTH)
    assert response.status_code == 422
    assert "unknown source 'toy'" in response.json()["detail"]


async def test_sources_say_what_they_bring_along_and_wait_on(api: httpx.AsyncClient) -> None:
    """The dependencies a source declares (`requires`, `after`) are what GET /sources says."""
    listed = {s["name"]: s for s in (await api.get("/sources")).json()["sources"]}
    assert (listed["claude_cost"]["requires"], listed["claude_cost"]["waits_on"]) == (
        ["claude_usage"],
        ["claude_usage/day"],
    )
    assert (listed["claude_usage"]["requires"], listed["claude_usage"]["waits_on"]) == (
        [],
        ["claude_code/day"],
    )
    assert listed["cursor"]["waits_on"] == []
