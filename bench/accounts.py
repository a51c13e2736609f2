"""Several accounts side by side: a backfill of four accounts (two Cursor teams, two Anthropic
organisations) under the documented rate limits ×N, against each account alone.

Each account has its own rate budgets upstream (the simulator keeps one per account) and in
the pipeline (its own clients and limiters), so four accounts should take about as long as
the slowest one: the figure is the four together ÷ the slowest alone. The simulator runs in
its own process (`usage-pipeline simulate --accounts-file`); each run is `usage-pipeline run`
as users run it, its parts spread over the machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from app.repositories.accounts import ACCOUNT_TABLES
from app.simulator.rate_limits import BUDGETS
from bench.e2e import LAST_DAY, _measured_run, _port, _wait_http

ACCOUNTS = ("north", "south", "org", "lab")  # app.simulator.accounts.four_accounts
_LIMITS = {
    "CURSOR_REQUESTS_PER_MINUTE": "cursor_admin",
    "CURSOR_EVENTS_REQUESTS_PER_MINUTE": "cursor_events",
    "ANTHROPIC_REQUESTS_PER_MINUTE": "anthropic_admin",
}


async def _reset(dsn: str) -> None:
    """Every run starts from an empty database (a first load each time)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            f"TRUNCATE {', '.join(ACCOUNT_TABLES)}, ingestion_runs, person_aliases CASCADE"
        )
    finally:
        await connection.close()


def _environment(dsn: str, file: Path, exports: str, scale: float) -> dict[str, str]:
    secrets = dict(
        line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if line
    )
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "ANTHROPIC_"))},
        **secrets,
        "DATABASE_URL": dsn,
        "ACCOUNTS_FILE": str(file),
        **{setting: str(BUDGETS[budget][0] * scale) for setting, budget in _LIMITS.items()},
        # Scaled limits compress time: the documented count per 60/scale seconds.
        "UPSTREAM_RATE_WINDOW_SECONDS": str(60 / scale),
        "UPSTREAM_TIMEOUT_SECONDS": "300",
        "LOG_LEVEL": "WARNING",
        "SCHEDULER_ENABLED": "false",
        "COLUMNS": "200",
    }


def backfill(dsn: str, users: int, days: int, scale: float) -> dict[str, Any]:
    """Each account alone, then all four at once, over `days` days."""
    port = _port()
    with tempfile.TemporaryDirectory(prefix="aup-accounts-") as folder:
        file = Path(folder) / "accounts.toml"
        simulator = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "simulate", "--users", str(users),
             "--port", str(port), "--rate-limit-scale", str(scale),
             "--accounts-file", str(file)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            _wait_http(f"http://127.0.0.1:{port}/{ACCOUNTS[0]}/_sim/healthz")
            exports = (
                "".join(simulator.stdout.readline() for _ in ACCOUNTS) if simulator.stdout else ""
            )
            env = _environment(dsn, file, exports, scale)
            start = LAST_DAY - timedelta(days=days - 1)
            command = [sys.executable, "-m", "app.cli", "run", "--start", str(start),
                       "--end", str(LAST_DAY)]  # fmt: skip
            walls: dict[str, float] = {}
            for label in (*ACCOUNTS, "all"):
                asyncio.run(_reset(dsn))
                run = _measured_run(
                    command if label == "all" else [*command, "--accounts", label], env
                )
                if run.exit_code != 0:
                    raise RuntimeError(f"accounts run {label} exited {run.exit_code}")
                walls[label] = run.wall_seconds
        finally:
            simulator.terminate()
            simulator.wait(timeout=30)
    slowest = max(ACCOUNTS, key=lambda name: walls[name])
    return {
        "users": users,
        "days": days,
        "scale": scale,
        "wall_seconds": walls,
        "slowest_account": slowest,
        "all_over_slowest": walls["all"] / walls[slowest],
    }


def markdown(result: dict[str, Any]) -> list[str]:
    walls = result["wall_seconds"]
    return [
        "",
        f"## Several accounts side by side ({len(ACCOUNTS)} accounts × {result['users']:,} "
        f"people, {result['days']} days)",
        "",
        "Two Cursor teams (`north`, `south`) and two Anthropic organisations (`org`, `lab`), "
        f"served by the accounts simulator under the documented rate limits ×{result['scale']:g},"
        " each account with budgets of its own; each run a first load into an empty database.",
        "",
        "| accounts | " + " | ".join(ACCOUNTS) + " | all four |",
        "|---|" + "---|" * (len(ACCOUNTS) + 1),
        "| wall (s) | "
        + " | ".join(f"{walls[name]:.1f}" for name in ACCOUNTS)
        + f" | {walls['all']:.1f} |",
        "",
        f"All four ÷ the slowest alone ({result['slowest_account']}): "
        f"**{result['all_over_slowest']:.2f}×** (target ≤ 1.3×).",
        "",
    ]
