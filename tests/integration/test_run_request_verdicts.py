"""POST /runs, `usage-pipeline run` and the scheduler judge a requested window by one set of
rules (app.orchestration.run_request): the same input gets the same verdict — and, when valid,
the same run — from all three."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import load_settings
from app.orchestration.run_request import InvalidRunRequest, RunRequest, utc_today
from app.orchestration.scheduler import plan_slot
from tests.integration.conftest import AUTH, serve
from tests.support.services import Simulator

TODAY = utc_today()
ALL = ["cursor", "cursor_spend", "claude_code", "claude_usage", "claude_cost", "claude_ai"]


@dataclass(frozen=True)
class Case:
    start: date | None = None
    end: date | None = None
    sources: list[str] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    # Valid: the run (start, end, sources); invalid: a phrase of the reason.
    run: tuple[date, date, list[str]] | None = None
    refused: str | None = None


CASES = {
    "defaults": Case(run=(TODAY - timedelta(days=3), TODAY - timedelta(days=1), ALL)),
    "explicit window": Case(
        start=TODAY - timedelta(days=4),
        end=TODAY - timedelta(days=2),
        sources=["cursor"],
        run=(TODAY - timedelta(days=4), TODAY - timedelta(days=2), ["cursor"]),
    ),
    "start only": Case(
        start=TODAY - timedelta(days=2),
        sources=["claude_code"],
        run=(TODAY - timedelta(days=2), TODAY - timedelta(days=1), ["claude_code"]),
    ),
    "today": Case(start=TODAY, end=TODAY, sources=["cursor"], run=(TODAY, TODAY, ["cursor"])),
    "cost brings usage": Case(
        start=TODAY - timedelta(days=1),
        end=TODAY - timedelta(days=1),
        sources=["claude_cost"],
        run=(TODAY - timedelta(days=1), TODAY - timedelta(days=1), ["claude_usage", "claude_cost"]),
    ),
    "end before start": Case(
        start=TODAY - timedelta(days=1), end=TODAY - timedelta(days=3), refused="is before"
    ),
    "end in the future": Case(
        start=TODAY - timedelta(days=1), end=TODAY + timedelta(days=1), refused="in the future"
    ),
    "start in the future": Case(start=TODAY + timedelta(days=2), refused="in the future"),
    "longer than MAX_WINDOW_DAYS": Case(
        start=TODAY - timedelta(days=10),
        end=TODAY - timedelta(days=1),
        settings={"max_window_days": 5},
        refused="exceeds MAX_WINDOW_DAYS=5",
    ),
    "unknown source": Case(sources=["github"], refused="unknown source"),
    "source not configured": Case(
        sources=["cursor"], settings={"cursor_api_key": None}, refused="not configured"
    ),
    "nothing configured": Case(
        settings={
            "cursor_api_key": None,
            "anthropic_admin_api_key": None,
            "claude_ai_activity_enabled": False,
            "anthropic_compliance_api_key": None,
            "anthropic_analytics_api_key": None,
        },
        refused="no source is configured",
    ),
}


def _values(simulator: Simulator, case: Case) -> dict[str, Any]:
    """The service's settings for this case, as one mapping for all three callers."""
    values = {
        name: getattr(simulator.settings(), name)
        for name in (
            "cursor_api_key",
            "anthropic_admin_api_key",
            "claude_ai_activity_enabled",
            "anthropic_compliance_api_key",
            "anthropic_analytics_api_key",
        )
    }
    return {**values, "lookback_days": 3, "max_window_days": 366, **case.settings}


def _env(values: dict[str, Any]) -> dict[str, str | None]:
    def text(value: Any) -> str | None:
        if value is None:
            return None  # unset in the CLI's environment
        if hasattr(value, "get_secret_value"):
            return str(value.get_secret_value())
        return str(value).lower() if isinstance(value, bool) else str(value)

    return {name.upper(): text(value) for name, value in values.items()}


def _api_verdict(response: Any) -> tuple[str, Any]:
    body = response.json()
    if response.status_code == 202:
        start, end = (
            date.fromisoformat(body["window_start"]),
            date.fromisoformat(body["window_end"]),
        )
        return "run", (start, end, body["sources"])
    assert response.status_code == 422, response.text
    return "refused", body["detail"]


def _cli_verdict(result: Any) -> tuple[str, Any]:
    if result.exit_code == 0:
        match = re.search(r"Run (\S+) → (\S+): (.*)", result.stdout)
        assert match, result.stdout
        start, end, sources = match.groups()
        return "run", (date.fromisoformat(start), date.fromisoformat(end), sources.split(", "))
    assert result.exit_code == 2, (result.exit_code, result.output)
    return "refused", result.output


def _scheduler_verdict(values: dict[str, Any], case: Case) -> tuple[str, Any]:
    request = RunRequest(case.start, case.end, case.sources)
    try:
        plan = plan_slot(load_settings(**values), datetime.now(UTC), request)
    except InvalidRunRequest as exc:
        return "refused", str(exc)
    return "run", (plan.start, plan.end, list(plan.sources))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_api_cli_and_scheduler_agree(
    case: Case, db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    values = _values(simulator, case)
    body = {
        key: value
        for key, value in (
            ("start_date", case.start and case.start.isoformat()),
            ("end_date", case.end and case.end.isoformat()),
            ("sources", case.sources),
        )
        if value is not None
    }
    async with serve(simulator.settings(database_url=database_dsn, **values)) as api:
        api_verdict = _api_verdict(await api.post("/runs", json=body, headers=AUTH))

    args = ["run", "--dry-run"]
    args += ["--start", case.start.isoformat()] if case.start else []
    args += ["--end", case.end.isoformat()] if case.end else []
    args += ["--sources", ",".join(case.sources)] if case.sources else []
    cli_verdict = _cli_verdict(CliRunner().invoke(cli, args, env=_env(values)))

    verdicts = {
        "api": api_verdict,
        "cli": cli_verdict,
        "scheduler": _scheduler_verdict(values, case),
    }
    if case.run is not None:
        assert all(verdict == ("run", case.run) for verdict in verdicts.values()), verdicts
    else:
        assert case.refused is not None
        for caller, (kind, reason) in verdicts.items():
            assert kind == "refused" and case.refused in reason, (caller, verdicts)
