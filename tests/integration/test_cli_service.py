"""The CLI as a client of a running service (`--url`) and as an operator's tool on the database,
run as users run it — a process of its own — against the real service in a thread: what each
output mode prints, that local and remote answers are the same documents, and the exit codes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from app.api.coverage import CoverageOut
from app.api.schemas import RunList, RunOut
from app.api.sources import SourceList
from app.cli_errors import ExitCode
from app.repositories.run_queue import create_requested_run
from app.repositories.runs import NewRun
from tests.support.services import Simulator, runner_and_reader, running_service

RUNNER = "cli-runner-token-0123456789abcdef"
READER = "cli-reader-token-0123456789abcdef"


def usage_pipeline(
    *args: str, token: str | None = None, database: str | None = None, data_dir: Path
) -> subprocess.CompletedProcess[str]:
    """The CLI in "another shell": no upstream key, no service URL; a token or a database
    only when given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_TOKEN")) and not key.startswith("USAGE_PIPELINE")
        and key != "DATABASE_URL"
    }  # fmt: skip
    env |= {"DATA_DIR": str(data_dir), "COLUMNS": "80"}
    if token is not None:
        env["USAGE_PIPELINE_TOKEN"] = token
    if database is not None:
        env["DATABASE_URL"] = database
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.fixture
def service(
    database_dsn: str, simulator: Simulator, db: object, logs_restored: None
) -> Iterator[str]:
    tokens = runner_and_reader(RUNNER, READER)
    with running_service(simulator.settings(database_url=database_dsn, api_tokens=tokens)) as url:
        yield url


def _one_line(result: subprocess.CompletedProcess[str], code: ExitCode, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("usage-pipeline: ")
    assert all(word in result.stderr for word in words), result.stderr
    assert RUNNER not in result.stderr and READER not in result.stderr


def test_trigger_follows_a_run_in_plain_and_json(
    service: str, database_dsn: str, tmp_path: Path
) -> None:
    window = ["--start", "2026-08-01", "--end", "2026-08-02", "--sources", "cursor,claude_cost"]
    plain = usage_pipeline("trigger", "--wait", "--url", service, *window, token=RUNNER,
                           data_dir=tmp_path)  # fmt: skip
    assert plain.returncode == ExitCode.OK, plain.stdout + plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].endswith("queued: 2026-08-01 → 2026-08-02: cursor, claude_usage, claude_cost")
    for source in ("cursor", "claude_usage", "claude_cost"):  # whole, at 80 columns
        assert any(f" {source} succeeded days 2/2 pages " in line for line in lines), lines
    assert lines[-1] == "Run succeeded." and "\x1b" not in plain.stdout and "…" not in plain.stdout

    args = ("trigger", "--wait", "--url", service, "--idempotency-key", "cron-2026-08-03",
            "--start", "2026-08-03", "--end", "2026-08-03", "-o", "json")  # fmt: skip
    streamed = usage_pipeline(*args, token=RUNNER, data_dir=tmp_path)
    assert streamed.returncode == ExitCode.OK, streamed.stderr
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert [events[0]["event"], events[-1]["event"]] == ["queued", "finished"]
    assert events[0]["new"] is True and {e["event"] for e in events[1:-1]} <= {"progress"}
    finished = RunOut.model_validate(events[-1]["run"])
    assert finished.status == "succeeded" and events[-1]["summary"] is None
    again = usage_pipeline(*args, token=RUNNER, data_dir=tmp_path)  # a CronJob's retry
    replayed = [json.loads(line) for line in again.stdout.splitlines()]
    assert replayed[0]["new"] is False and replayed[0]["run"]["id"] == str(finished.id)

    listed = RunList.model_validate_json(
        usage_pipeline(
            "runs", "list", "--url", service, "-o", "json", token=READER, data_dir=tmp_path
        ).stdout
    )
    assert str(finished.id) in {str(run.id) for run in listed.runs} and len(listed.runs) == 2
    local = usage_pipeline("runs", "list", "-o", "json", database=database_dsn, data_dir=tmp_path)
    assert RunList.model_validate_json(local.stdout) == listed  # the same document, here or there
    shown = [
        usage_pipeline("runs", "show", str(finished.id), *where, "-o", "json", data_dir=tmp_path,
                       database=database_dsn, token=READER).stdout
        for where in (("--url", service), ())
    ]  # fmt: skip
    assert RunOut.model_validate_json(shown[0]) == RunOut.model_validate_json(shown[1])


def test_coverage_and_sources_here_and_there(
    service: str, database_dsn: str, simulator: Simulator, tmp_path: Path
) -> None:
    yesterday = ["--sources", "cursor"]
    assert usage_pipeline("trigger", "--wait", "--url", service, *yesterday, token=RUNNER,
                          data_dir=tmp_path).returncode == 0  # fmt: skip
    remote = usage_pipeline("coverage", "--days", "5", "--url", service, "-o", "json",
                            token=READER, data_dir=tmp_path)  # fmt: skip
    there = CoverageOut.model_validate_json(remote.stdout)
    # Here, no key names a source: the calendar is the ledger's, and it says so.
    local = usage_pipeline("coverage", "--days", "5", "-o", "json", database=database_dsn,
                           data_dir=tmp_path)  # fmt: skip
    here = CoverageOut.model_validate_json(local.stdout)
    assert "no source is configured in this environment" in local.stderr
    assert set(here.counts["default"]) == {"cursor"}
    assert here.counts["default"]["cursor"] == there.counts["default"]["cursor"]
    assert set(there.counts["default"]) >= {"cursor", "claude_code", "claude_cost"}  # configured
    table = usage_pipeline("coverage", "--days", "5", "-o", "table", database=database_dsn,
                           data_dir=tmp_path)  # fmt: skip
    assert "┃ source" in table.stdout and "│ cursor" in table.stdout, table.stdout
    calendar = usage_pipeline("coverage", "--days", "5", database=database_dsn, data_dir=tmp_path)
    (row,) = [line for line in calendar.stdout.splitlines() if line.startswith("cursor ")]
    assert row.split()[1:6].count("~") + row.split()[1:6].count("✓") >= 1, row

    there_sources = SourceList.model_validate_json(
        usage_pipeline(
            "sources", "--url", service, "-o", "json", token=READER, data_dir=tmp_path
        ).stdout
    )
    assert [account.name for account in there_sources.accounts] == ["default"]
    assert "ANTHROPIC_ADMIN_API_KEY" in there_sources.accounts[0].key_settings
    here_sources = usage_pipeline("sources", database=database_dsn, data_dir=tmp_path)
    assert "No account is configured here" in here_sources.stdout
    assert (
        SourceList.model_validate_json(
            usage_pipeline("sources", "-o", "json", database=database_dsn, data_dir=tmp_path).stdout
        ).accounts
        == []
    )


def test_refusals_are_one_line_with_their_exit_code(
    service: str, simulator: Simulator, tmp_path: Path
) -> None:
    url = ("--url", service)
    _one_line(usage_pipeline("trigger", *url, token="not-a-token-of-this-service",
                             data_dir=tmp_path), ExitCode.DENIED, "401")  # fmt: skip
    _one_line(usage_pipeline("trigger", *url, token=READER, data_dir=tmp_path),
              ExitCode.DENIED, "403")  # fmt: skip
    _one_line(usage_pipeline("trigger", *url, data_dir=tmp_path), ExitCode.DENIED,
              "401", "USAGE_PIPELINE_TOKEN")  # fmt: skip
    _one_line(usage_pipeline("trigger", data_dir=tmp_path), ExitCode.INVALID, "--url")
    _one_line(usage_pipeline("trigger", "--url", "http://127.0.0.1:9", data_dir=tmp_path),
              ExitCode.UNREACHABLE, "cannot reach http://127.0.0.1:9/runs")  # fmt: skip
    backwards = ("--start", "2026-08-05", "--end", "2026-08-01")
    _one_line(usage_pipeline("trigger", *url, *backwards, token=RUNNER, data_dir=tmp_path),
              ExitCode.INVALID, "422", "end_date 2026-08-01 is before start_date 2026-08-05")  # fmt: skip
    nobody = "00000000-0000-4000-8000-000000000000"
    _one_line(usage_pipeline("runs", "show", nobody, *url, token=READER, data_dir=tmp_path),
              ExitCode.NOT_FOUND, f"no run {nobody}")  # fmt: skip

    simulator.fault("usage_report/claude_code", kind="status", status=500, times=None)
    failed = usage_pipeline("trigger", "--wait", *url, "--sources", "claude_code", "--start",
                            "2026-08-01", "--end", "2026-08-01", token=RUNNER, data_dir=tmp_path)  # fmt: skip
    assert failed.returncode == ExitCode.RUN_NOT_SUCCEEDED, failed.stdout + failed.stderr
    assert "Run failed." in failed.stdout and "HTTP 500" in failed.stdout
    run_id = failed.stdout.split()[1]
    _one_line(usage_pipeline("runs", "cancel", run_id, *url, token=RUNNER, data_dir=tmp_path),
              ExitCode.CONFLICT, "has already finished (failed)")  # fmt: skip


async def test_runs_and_heal_here_without_a_service(
    db: asyncpg.Pool, database_dsn: str, tmp_path: Path
) -> None:
    async with db.acquire() as connection:
        queued = await create_requested_run(
            connection,
            NewRun(date(2026, 8, 2), date(2026, 8, 3), ["cursor"], ["default"],
                   [("default", ["cursor"])], {"cursor": "fact_cursor_daily_usage"}),
        )  # fmt: skip
    here = {"database": database_dsn, "data_dir": tmp_path}
    cancelled = usage_pipeline("runs", "cancel", str(queued.run_id), "-o", "json", **here)
    assert cancelled.returncode == 0, cancelled.stderr
    assert RunOut.model_validate_json(cancelled.stdout).status == "cancelled"
    _one_line(usage_pipeline("runs", "cancel", str(queued.run_id), **here), ExitCode.CONFLICT,
              "has already finished (cancelled)")  # fmt: skip
    shown = usage_pipeline("runs", "show", str(queued.run_id), **here)
    assert shown.stdout.startswith(f"run {queued.run_id}: cancelled (api, requested by")
    # Following a run no worker takes: Ctrl-C stops the following, not the run.
    waiting = await create_requested_run(
        connection := await asyncpg.connect(database_dsn),
        NewRun(date(2026, 8, 5), date(2026, 8, 5), ["cursor"], ["default"],
               [("default", ["cursor"])], {"cursor": "fact_cursor_daily_usage"}),
    )  # fmt: skip
    await connection.close()
    follower = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "runs", "show", str(waiting.run_id), "--wait",
        env={**os.environ, "DATABASE_URL": database_dsn, "DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert follower.stdout is not None
    first = await asyncio.wait_for(follower.stdout.readline(), 60)  # following now
    assert first.decode().startswith(f"run {waiting.run_id}: queued")
    follower.send_signal(signal.SIGINT)
    out, err = (part.decode() for part in await asyncio.wait_for(follower.communicate(), 30))
    assert follower.returncode == ExitCode.INTERRUPTED, (out, err)
    assert err == (
        f"usage-pipeline: stopped following run {waiting.run_id} (queued); it goes on: follow"
        f" it again with `usage-pipeline runs show {waiting.run_id} --wait`\n"
    )
    # Without a key here, no source is configured: nothing to heal, and that is not an error.
    healed = usage_pipeline("heal", **here)
    assert healed.returncode == 0 and healed.stdout.startswith("Nothing to heal"), healed.stderr
