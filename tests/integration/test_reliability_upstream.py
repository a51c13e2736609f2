"""Fault matrix, upstream rows: each fault injected in the simulator, the run's behaviour
checked, then a clean follow-up run must leave the tables exactly at the ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import asyncpg
import pytest

from app.orchestration.daily_job import RunOutcome
from tests.integration.jobs import (
    END,
    START,
    expected_totals,
    normalise,
    run_job,
    snapshot,
    view_totals,
)
from tests.support.services import Simulator

pytestmark = pytest.mark.reliability

SETTINGS = {
    "upstream_max_attempts": 6,
    "upstream_retry_base_seconds": 0.01,
    "upstream_max_retry_wait_seconds": 2.0,
    "upstream_timeout_seconds": 1.0,
}


@dataclass
class Case:
    endpoint: str
    faults: list[dict[str, Any]]
    source: str
    fails_with: str | None = None  # None: the run recovers by itself
    also_failing: tuple[str, ...] = ()
    checks: dict[str, Any] = field(default_factory=dict)


def http_date(seconds: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


CASES = {
    "429_retry_after_seconds": Case(
        "daily-usage-data", [{"kind": "status", "status": 429, "retry_after": "1", "times": 2}], "cursor",
        checks={"rate_limit_waits": 2, "rate_limit_wait_seconds": 2.0},
    ),
    "429_retry_after_http_date": Case(
        "usage_report/messages", [{"kind": "status", "status": 429, "retry_after": "HTTP-DATE", "times": 1}], "claude_usage",
        checks={"rate_limit_waits": 1},
    ),
    "5xx_burst_500_502_503_529": Case(
        "cost_report", [{"kind": "status", "status": s, "times": 1} for s in (500, 502, 503, 529)], "claude_cost",
        checks={"retries": 4},
    ),
    "read_timeout": Case("usage_report/claude_code", [{"kind": "latency", "ms": 1500, "times": 1}], "claude_code", checks={"retries": 1}),
    "connection_reset_mid_body": Case("compliance/activities", [{"kind": "reset", "times": 2}], "claude_ai", checks={"retries": 2}),
    "malformed_json": Case("api_keys", [{"kind": "malformed", "times": 2}], "claude_usage"),
    "truncated_page": Case("daily-usage-data", [{"kind": "truncate", "times": 2}], "cursor", checks={"retries": 2}),
    "additive_schema_drift": Case("*", [{"kind": "add_field", "field": "brand_new", "times": None}], "cursor"),
    "optional_field_missing": Case(
        "usage_report/claude_code", [{"kind": "drop_field", "field": "is_remote", "times": None}], "claude_code",
    ),
    "optional_nested_field_missing": Case(
        "usage_report/messages", [{"kind": "drop_field", "field": "server_tool_use", "times": None}], "claude_usage",
    ),
    "required_field_missing": Case(
        "usage_report/messages", [{"kind": "drop_field", "field": "output_tokens", "times": None}], "claude_usage",
        fails_with="malformed page", also_failing=("claude_cost",),
    ),
    "invalid_cursor_once": Case(
        "usage_report/claude_code", [{"kind": "invalid_cursor", "times": 1}], "claude_code",
    ),
    "invalid_cursor_always": Case(
        "cost_report", [{"kind": "invalid_cursor", "times": None}], "claude_cost",
        fails_with="answered HTTP 400: Invalid page cursor",
    ),
    "401_fails_fast_naming_the_key": Case(
        "daily-usage-data", [{"kind": "status", "status": 401, "times": None}], "cursor",
        fails_with="cursor rejected CURSOR_API_KEY (HTTP 401: Simulated HTTP 401)", checks={"retries": 0},
    ),
}  # fmt: skip


async def assert_exact(db: asyncpg.Pool, simulator: Simulator) -> None:
    assert normalise(await view_totals(db)) == expected_totals(simulator)
    cursor = {
        key: row
        for key, row in (await snapshot(db, "fact_cursor_daily_usage")).items()
        if row["in_daily_usage"]
    }
    expected = simulator.truth.expected_cursor_rows(START, END)
    assert set(cursor) == set(expected)
    assert all(
        row["total_lines_added"] == expected[key]["totalLinesAdded"] for key, row in cursor.items()
    )


def _check(outcome: RunOutcome, case: Case) -> None:
    progress = outcome.sources[case.source]
    if case.fails_with is None:
        assert outcome.status == "succeeded", outcome.reason
    else:
        assert progress.status == "failed"
        assert case.fails_with in str(progress.last_error), progress.last_error
        assert outcome.status == "partial"
        failed = {name for name, p in outcome.sources.items() if p.status == "failed"}
        assert failed == {case.source, *case.also_failing}
    for name, expected in case.checks.items():
        actual = getattr(progress, name)
        assert actual == pytest.approx(expected, abs=0.05), (name, actual)


@pytest.mark.parametrize("case_id", list(CASES))
async def test_upstream_fault(db: asyncpg.Pool, simulator: Simulator, case_id: str) -> None:
    case = CASES[case_id]
    for fault in case.faults:
        if fault.get("retry_after") == "HTTP-DATE":
            fault = {**fault, "retry_after": http_date(1.0)}
        simulator.fault(case.endpoint, **fault)
    _, outcome = await run_job(db, simulator, **SETTINGS)
    _check(outcome, case)
    if case.fails_with is None:
        await assert_exact(db, simulator)  # recovered within the run: already exact
    simulator.app.state.faults.clear()
    _, follow_up = await run_job(db, simulator, **SETTINGS)
    assert follow_up.status == "succeeded"
    await assert_exact(db, simulator)  # nothing lost, nothing duplicated
