"""A hostile or broken upstream (tests/integration/hostile.py) behind one tool, the simulator
behind the other: every misbehaviour ends the hostile side's source in a clear, bounded failure
naming its upstream, no secret in any form reaches a stored field, an API answer or a log line,
the failing source's table is untouched, and the other tool's tables equal the ground truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from app import redaction
from app.logs import configure_logging
from app.simulator.app import SimulatorOptions
from app.simulator.model import GroundTruth
from tests.integration.conftest import serve
from tests.integration.hostile import Hostile, hostile_server
from tests.integration.jobs import (
    cursor_against_truth,
    expected_totals,
    normalise,
    run_job,
    view_totals,
)
from tests.support.services import Simulator, start_simulator

# A test here points the logs at its captured stderr.
pytestmark = [pytest.mark.reliability, pytest.mark.usefixtures("logs_restored")]

# Keys whose every echo form differs from the raw key: base64, percent-encoding, repr.
KEYS = SimulatorOptions(
    cursor_api_key="crsr_HOSTILE+/=key%20~7f3a'q",
    admin_api_key='sk-ant-admin01-HOSTILE/+=x%41"z',
    compliance_api_key="sk-ant-api01-HOSTILE_compliance_99e2",
    analytics_api_key="sk-ant-HOSTILE_analytics_c0de",
)
BOUNDS = {
    "upstream_max_attempts": 2,
    "upstream_retry_base_seconds": 0.01,
    "upstream_request_deadline_seconds": 1.0,
    "upstream_max_page_bytes": 1 << 20,
    "upstream_max_pages_per_chain": 30,
    "log_format": "json",
}
# What each misbehaviour must end as: (Cursor side, Anthropic side) fragments of the error.
EXPECTED = {
    "trickle": ("no whole answer within 1 s (UPSTREAM_REQUEST_DEADLINE_SECONDS)",) * 2,
    "cycle": ("pages in a row repeat users already read", "points back to a page already read"),
    "endless": ("still more pages after 30 (UPSTREAM_MAX_PAGES_PER_CHAIN)",) * 2,
    "gzip_bomb": ("more than 1048576 bytes (decompressed) for one page (UPSTREAM_MAX_PAGE_BYTES)",)
    * 2,
    "bad_gzip": ("gzip body",) * 2,
    "redirect": ("answered HTTP 302, a redirect to https://elsewhere.invalid/x (not followed",) * 2,
    "echo_auth": (
        "rejected CURSOR_API_KEY (HTTP 401:",
        "rejected ANTHROPIC_ADMIN_API_KEY (HTTP 401:",
    ),
    # Cursor's rows are cut as raw JSON, which goes all the way down; Anthropic's typed
    # decoder refuses the first row that is not an object.
    "nested": ("JSON nested too deeply", "malformed page (Expected `object`, got `array`"),
    "huge_error": ("HTTP 500: xxxxxxxx",) * 2,
}


@pytest.fixture(scope="module")
def truth() -> GroundTruth:
    return GroundTruth(seed=3, users=8)


@pytest.fixture(scope="module")
def sim(truth: GroundTruth) -> Iterator[Simulator]:
    simulator = start_simulator(truth, KEYS)
    yield simulator
    simulator.server.should_exit = True


@pytest.fixture(scope="module")
def hostile(truth: GroundTruth) -> Iterator[Hostile]:
    yield from hostile_server(truth)


@dataclass
class Seen:
    texts: list[str]

    def assert_clean(self) -> None:
        forms = set()
        for key in (KEYS.cursor_api_key, KEYS.admin_api_key):
            forms |= redaction.echo_forms(key)
        for text in self.texts:
            for form in forms:
                assert form not in text, f"{form!r} leaked into: {text[:300]}"


async def _stored(db: asyncpg.Pool) -> list[str]:
    async with db.acquire() as connection:
        rows = await connection.fetch(
            "SELECT r.status_reason AS a, s.last_error AS b FROM ingestion_runs r"
            " LEFT JOIN ingestion_run_sources s ON s.run_id = r.id"
            " UNION ALL SELECT last_error, NULL FROM coverage_days"
        )
    return [str(value) for row in rows for value in row.values() if value is not None]


async def _rows(db: asyncpg.Pool, table: str) -> int:
    async with db.acquire() as connection:
        count: int = await connection.fetchval(f"SELECT count(*) FROM {table}")
    return count


def _settings(sim: Simulator, hostile: Hostile, side: str) -> dict[str, Any]:
    where = "cursor_api_base_url" if side == "cursor" else "anthropic_api_base_url"
    return {**BOUNDS, where: hostile.url}


@pytest.mark.parametrize("mode", list(EXPECTED))
@pytest.mark.parametrize("side", ["cursor", "anthropic"])
async def test_a_hostile_upstream_fails_one_source_clearly(
    db: asyncpg.Pool,
    database_dsn: str,
    sim: Simulator,
    hostile: Hostile,
    mode: str,
    side: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    hostile.mode = mode
    overrides = _settings(sim, hostile, side)
    configure_logging(sim.settings(**overrides))
    failing = "cursor" if side == "cursor" else "claude_code"
    others = ["claude_code", "claude_usage", "claude_cost", "claude_ai"] if side == "cursor" else []
    started = time.monotonic()
    run_id, outcome = await run_job(
        db, sim, sources=[failing, *others, *([] if side == "cursor" else ["cursor"])],
        database_url=database_dsn, **overrides,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"{mode} held the run for {elapsed:.1f} s"
    progress = outcome.sources[failing]
    assert progress.status == "failed", progress
    error = progress.last_error or ""
    expected = EXPECTED[mode][0 if side == "cursor" else 1]
    assert error.startswith(side), error  # names the upstream
    assert expected in error, error
    assert "internal error" not in (outcome.reason or "")
    assert outcome.status == "partial"
    assert all(p.status == "succeeded" for name, p in outcome.sources.items() if name != failing)
    # The failing source wrote nothing; the other tool's tables are the ground truth.
    if side == "cursor":
        assert await _rows(db, "fact_cursor_daily_usage") == 0
        assert normalise(await view_totals(db)) == expected_totals(sim)
    else:
        assert await _rows(db, "fact_claude_daily_usage") == 0
        table, truth = await cursor_against_truth(db, sim)
        assert table == truth
    # The run as the API shows it, the stored errors, and every log line: no key, any form.
    async with serve(sim.settings(database_url=database_dsn, **overrides)) as api:
        shown = [
            (await api.get(f"/runs/{run_id}")).text,
            (await api.get("/coverage", params={"start": "2026-08-01", "end": "2026-08-03"})).text,
        ]
    seen = Seen([*await _stored(db), *shown, capfd.readouterr().err, outcome.reason or ""])
    seen.assert_clean()
    if mode == "echo_auth":  # the upstream did echo what it was sent
        assert any(c for c in hostile.seen_credentials)


async def test_the_cli_shows_an_echoing_upstream_without_its_key(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator, hostile: Hostile
) -> None:
    """`usage-pipeline run` against an upstream that echoes the credentials it was sent: the
    progress table, the outcome and the log lines it prints hold no form of the key."""
    import asyncio
    import os
    import subprocess
    import sys

    hostile.mode = "echo_auth"
    env = {
        **os.environ, "COLUMNS": "200", "DATABASE_URL": database_dsn,
        "CURSOR_API_KEY": KEYS.cursor_api_key, "CURSOR_API_BASE_URL": hostile.url,
        "ANTHROPIC_ADMIN_API_KEY": KEYS.admin_api_key, "ANTHROPIC_API_BASE_URL": hostile.url,
        "LOG_LEVEL": "DEBUG", "UPSTREAM_MAX_ATTEMPTS": "1",
    }  # fmt: skip
    command = [sys.executable, "-m", "app.cli", "run", "--start", "2026-08-01", "--end",
               "2026-08-01", "--sources", "cursor,claude_code"]  # fmt: skip
    result = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rejected CURSOR_API_KEY (HTTP 401:" in result.stdout
    assert "rejected ANTHROPIC_ADMIN_API_KEY (HTTP 401:" in result.stdout
    Seen([result.stdout, result.stderr]).assert_clean()


async def test_a_source_that_outlives_its_deadline_fails_naming_the_setting(
    db: asyncpg.Pool, sim: Simulator
) -> None:
    """Each request answers within its own deadline, but the source as a whole does not."""
    sim.fault("usage_report/claude_code", kind="latency", ms=400, times=None)
    started = time.monotonic()
    _, outcome = await run_job(
        db, sim, sources=["claude_code", "cursor"], upstream_source_deadline_seconds=1.0
    )
    try:
        assert time.monotonic() - started < 10
        error = outcome.sources["claude_code"].last_error or ""
        assert outcome.sources["claude_code"].status == "failed"
        assert error.startswith(
            "claude_code did not finish within 1 s (UPSTREAM_SOURCE_DEADLINE_SECONDS)"
        ), error
        assert outcome.sources["cursor"].status == "succeeded"
        table, truth = await cursor_against_truth(db, sim)
        assert table == truth
    finally:
        sim.app.state.faults.clear()
