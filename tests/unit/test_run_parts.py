"""How a run is cut into parts, and how its parts' ends make the run's outcome."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from app.orchestration.parts import decide
from app.orchestration.run_request import PlannedRun, parts_of
from app.repositories.run_parts import PartEnd
from app.repositories.runs import SourceProgress
from app.vocabulary import RunStatus, SourceStatus

DAY = date(2026, 8, 1)
ALL = ("cursor", "cursor_spend", "claude_code", "claude_usage", "claude_cost", "claude_ai")


def test_sources_that_wait_on_or_require_each_other_are_one_part_per_account() -> None:
    plan = PlannedRun(DAY, DAY, ALL, accounts={"north": ("cursor", "cursor_spend"), "org": ALL[2:]})
    assert parts_of(plan) == [
        ("north", ("cursor",)),
        ("north", ("cursor_spend",)),
        ("org", ("claude_code", "claude_usage", "claude_cost")),
        ("org", ("claude_ai",)),
    ]


def test_without_accounts_the_default_account_runs_every_source() -> None:
    assert [account for account, _ in parts_of(PlannedRun(DAY, DAY, ALL))] == ["default"] * 4


def _source(
    account: str, name: str, status: SourceStatus, error: str | None = None
) -> SourceProgress:
    return SourceProgress(name, "t", status, account=account, last_error=error)


def test_one_accounts_failure_makes_the_run_partial_and_is_named() -> None:
    sources = [
        _source("north", "cursor", SourceStatus.SUCCEEDED),
        _source("south", "cursor", SourceStatus.FAILED, "cursor rejected the key (HTTP 401)"),
        _source("default", "claude_ai", SourceStatus.SUCCEEDED),
    ]
    parts = [PartEnd(RunStatus.SUCCEEDED, None), PartEnd(RunStatus.FAILED, "x")]
    assert decide(parts, sources) == (
        RunStatus.PARTIAL, "south/cursor: cursor rejected the key (HTTP 401)"
    )  # fmt: skip
    assert decide(parts, sources[1:2])[0] is RunStatus.FAILED
    assert decide(parts[:1], [sources[0]]) == (RunStatus.SUCCEEDED, None)


def test_a_crashed_part_crashes_the_run_and_a_cancel_keeps_its_reason() -> None:
    crashed = [PartEnd(RunStatus.SUCCEEDED, None), PartEnd(RunStatus.CRASHED, "worker w1 died")]
    lost = _source("org", "claude_code", SourceStatus.FAILED, "worker w1 stopped heartbeating")
    assert decide(crashed, [lost]) == (
        RunStatus.CRASHED, "org/claude_code: worker w1 stopped heartbeating"
    )  # fmt: skip
    cancelled = [PartEnd(RunStatus.CANCELLED, "service shutting down")]
    assert decide(cancelled, []) == (RunStatus.CANCELLED, "service shutting down")


def test_worker_processes_follow_the_cgroup_quota(tmp_path: Path) -> None:
    from app.orchestration.worker_process import _cgroup_cpus

    limit = tmp_path / "cpu.max"
    limit.write_text("150000 100000\n")  # 1.5 CPUs: two processes
    assert _cgroup_cpus(str(limit)) == 2
    limit.write_text("max 100000\n")
    assert _cgroup_cpus(str(limit)) is None
    assert _cgroup_cpus(str(tmp_path / "absent")) is None
