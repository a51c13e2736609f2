"""Adding an upstream is its package, one registry line and its migration — nothing else.

The toy upstream in `tests/support/toy/` is written as a new upstream's package would be: its
client over the shared HTTP policy, its page model, its fact label and table, its source and
its simulator route. This test adds it exactly as docs/architecture.md says (the package, one
line in the registry, its migration in the migration directory) and runs it through
`POST /runs`, the CLI, coverage and the metrics; the architecture doc's file list must be the
files it needed.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.orchestration.sources.registry import REGISTRY
from app.repositories import migrations
from app.simulator.model import GroundTruth
from tests.integration.conftest import AUTH, TOKEN, serve, wait_for
from tests.support.metrics import scrape, value
from tests.support.services import create_database, drop_database, start_simulator
from tests.support.toy import simulator as toy_simulator
from tests.support.toy.upstream import UPSTREAM as TOY

ROOT = Path(__file__).resolve().parents[2]
TOY_PACKAGE = ROOT / "tests" / "support" / "toy"
DAYS = (date(2026, 8, 1), date(2026, 8, 2))
NEXT = f"{int(migrations.head_revision()) + 1:04d}"  # the number its migration file takes


def _files_the_doc_lists() -> set[str]:
    """The fenced list under "Adding a source" in docs/architecture.md, `<name>` = toy."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Adding a source", 1)[1]
    listing = re.search(r"```text\n(.*?)```", section, re.S)
    assert listing is not None
    return {
        line.split("#")[0].strip().replace("<name>", "toy").replace("NNNN", NEXT)
        for line in listing.group(1).splitlines()
        if line.split("#")[0].strip()
    }


def _files_the_test_needs() -> set[str]:
    package = {
        f"app/upstreams/toy/{path.name}"
        for path in TOY_PACKAGE.glob("*.py")
        if path.name != "migration.py"
    }
    return package | {"app/orchestration/sources/registry.py", f"alembic/versions/{NEXT}_toy.py"}


def test_the_architecture_doc_lists_the_files_a_new_upstream_needs() -> None:
    assert _files_the_doc_lists() == _files_the_test_needs()


# The service and the CLI point the logs at this module's captured stderr.
pytestmark = pytest.mark.usefixtures("logs_restored")


@pytest.fixture
async def toy_database(
    admin_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """Its migration in the migration directory (a copy of ours), applied to a new database."""
    scripts = tmp_path / "alembic"
    shutil.copytree(ROOT / "alembic", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    # It follows whatever migration is the head today (its file names the one it was written on).
    toy = (TOY_PACKAGE / "migration.py").read_text()
    head = migrations.head_revision()
    toy = re.sub(
        r'down_revision: str \| None = "\d+"', f'down_revision: str | None = "{head}"', toy
    )
    (scripts / "versions" / f"{NEXT}_toy.py").write_text(toy)
    monkeypatch.setattr(migrations, "MIGRATIONS", scripts)
    migrations.head_revision.cache_clear()
    dsn = await create_database(admin_dsn, "aup_toy")
    try:
        await asyncio.to_thread(migrations.upgrade_to_head, dsn)
        yield dsn
    finally:
        migrations.head_revision.cache_clear()
        await drop_database(admin_dsn, dsn)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one registry line, and the toy upstream's simulator with its route."""
    REGISTRY.add(TOY)  # = `TOY,` in UPSTREAMS
    sim = start_simulator(GroundTruth(seed=11, users=4))
    monkeypatch.setenv("TOY_API_KEY", "toy-key-0123456789")
    monkeypatch.setenv("TOY_API_BASE_URL", sim.url)
    try:
        yield None
    finally:
        REGISTRY.remove(TOY.name)
        sim.server.should_exit = True


async def _toy_rows(dsn: str) -> set[tuple[date, str, int]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT usage_date, email, events FROM fact_toy_daily_usage")
    finally:
        await connection.close()
    return {(r["usage_date"], r["email"], r["events"]) for r in rows}


EXPECTED = {
    (day, person, toy_simulator.events(person, day))
    for day in DAYS
    for person in toy_simulator.PEOPLE
}


async def test_a_new_upstream_runs_through_api_coverage_metrics_and_cli(
    toy_database: str, registered: None
) -> None:
    from app.config import load_settings

    settings = load_settings(
        database_url=toy_database, api_token=TOKEN, scheduler_enabled=False,
        worker_process=False, worker_poll_seconds=0.2,
    )  # fmt: skip
    window = {"start_date": "2026-08-01", "end_date": "2026-08-02", "sources": ["toy"]}
    async with serve(settings) as api:
        assert (await api.get("/readyz")).status_code == 200  # its migration is the head
        listed = {s["name"]: s for s in (await api.get("/sources")).json()["sources"]}
        assert listed["toy"]["table"] == "fact_toy_daily_usage" and listed["toy"]["configured"]
        response = await api.post("/runs", json=window, headers=AUTH)
        assert response.status_code == 202, response.text
        run = await wait_for(api, response.headers["Location"])
        coverage = (await api.get("/coverage?source=toy&start=2026-08-01&end=2026-08-02")).json()
        after = await scrape(api)

    assert run["status"] == "succeeded", run
    (progress,) = run["progress"]
    assert (progress["pages"], progress["rows_fetched"], progress["rows_inserted"]) == (4, 4, 4)
    assert await _toy_rows(toy_database) == EXPECTED
    assert {(d["day"], d["state"]) for d in coverage["days"]} == {
        ("2026-08-01", "final"),
        ("2026-08-02", "final"),
    }
    success = "ingestion_last_success_timestamp_seconds"
    assert value(after, success, success, source="toy") > 0
    rows = ("ingestion_rows", "ingestion_rows_total")
    assert value(after, *rows, table="fact_toy_daily_usage", operation="inserted") == 4
    requests = ("upstream_requests", "upstream_requests_total")
    assert value(after, *requests, upstream="toy", endpoint="usage", status_class="2xx") == 4

    # The CLI, again over the same days: nothing changed upstream, so nothing is rewritten.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["run", "--start", "2026-08-01", "--end", "2026-08-02", "--sources", "toy"],
        env={"DATABASE_URL": toy_database, "COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "Run succeeded." in result.output
    assert await _toy_rows(toy_database) == EXPECTED
