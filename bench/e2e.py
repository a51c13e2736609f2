"""End-to-end runs, memory, the rate-limit floor and API latency during a backfill.

The ingestion runs as `usage-pipeline run` in its own process, as users run it. Its upstream is
either the simulator in another process (10,000 people, 50 ms per page) or, to measure the
pipeline alone, the simulator's pages recorded once and served again by `bench.replay` —
without limits, or under the documented rate limits ×N. The API is measured as a served run
polled over HTTP while another process drives GET traffic at it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from app.simulator.app import SimulatorOptions
from app.simulator.rate_limits import BUDGETS
from bench import floor
from bench.common import median
from bench.replay import endpoint_of

SOURCES = ("cursor", "cursor_spend", "claude_code", "claude_usage", "claude_cost", "claude_ai")
LAST_DAY = date(2026, 8, 31)


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


class Simulator:
    """The simulator in its own process; with `rate_limit_scale`, it enforces the documented
    rate limits ×scale, and the runs it serves are configured for the same limits."""

    def __init__(
        self,
        users: int,
        latency_ms: int,
        rate_limit_scale: float | None = None,
        record: Path | None = None,
    ) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rate_limit_scale = rate_limit_scale
        limits = ["--rate-limit-scale", str(rate_limit_scale)] if rate_limit_scale else []
        recording = ["--record", str(record)] if record else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "simulate", "--users", str(users),
             "--port", str(self.port), "--latency-ms", str(latency_ms), *limits, *recording],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_http(f"{self.url}/_sim/healthz")

    def _per_minute(self, budget: str) -> str:
        if self.rate_limit_scale is None:
            return "1000000"
        return str(BUDGETS[budget][0] * self.rate_limit_scale)

    def env(self, dsn: str) -> dict[str, str]:
        keys = SimulatorOptions()
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "ANTHROPIC_"))},
            "DATABASE_URL": dsn,
            "CURSOR_API_KEY": keys.cursor_api_key,
            "CURSOR_API_BASE_URL": self.url,
            "ANTHROPIC_ADMIN_API_KEY": keys.admin_api_key,
            "ANTHROPIC_API_BASE_URL": self.url,
            "CLAUDE_AI_ACTIVITY_ENABLED": "true",
            "ANTHROPIC_COMPLIANCE_API_KEY": keys.compliance_api_key,
            "ANTHROPIC_ANALYTICS_API_KEY": keys.analytics_api_key,
            "CURSOR_REQUESTS_PER_MINUTE": self._per_minute("cursor_admin"),
            "CURSOR_EVENTS_REQUESTS_PER_MINUTE": self._per_minute("cursor_events"),
            "ANTHROPIC_REQUESTS_PER_MINUTE": self._per_minute("anthropic_admin"),
            "ANTHROPIC_COMPLIANCE_REQUESTS_PER_MINUTE": self._per_minute("anthropic_compliance"),
            "ANTHROPIC_ANALYTICS_REQUESTS_PER_MINUTE": self._per_minute("anthropic_analytics"),
            "UPSTREAM_TIMEOUT_SECONDS": "300",
            # Scaled limits compress time: the documented count per 60/scale seconds.
            "UPSTREAM_RATE_WINDOW_SECONDS": str(60 / (self.rate_limit_scale or 1)),
            "LOG_LEVEL": "WARNING",
            "SCHEDULER_ENABLED": "false",
            "COLUMNS": "200",
        }

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Measured:
    wall_seconds: float
    exit_code: int
    peak_rss: int  # the largest of any one process of the run (the CLI or a worker process)
    cpu_seconds: float  # of the run's processes together (user + system)
    processes: int = 1  # how many processes the run used


def _measured_run(command: list[str], env: dict[str, str]) -> Measured:
    """Wall time, exit code, peak RSS per process (bytes) and CPU time of a command and the
    worker processes it starts, polled every 50 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    watched = psutil.Process(process.pid)
    peak = 0
    cpu: dict[int, float] = {}  # the last CPU time seen of each process of the run
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
        except psutil.Error:
            break
        for member in tree:
            try:
                peak = max(peak, member.memory_info().rss)
                times = member.cpu_times()
                cpu[member.pid] = times.user + times.system
            except psutil.Error:
                continue
        time.sleep(0.05)
    return Measured(
        time.perf_counter() - started, process.wait(), peak, sum(cpu.values()), len(cpu)
    )


def _busy_cpu_seconds() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0))


async def _truncate(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("TRUNCATE fact_claude_daily_usage, fact_cursor_daily_usage")
    finally:
        await connection.close()


def _difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


class Replay(Simulator):
    """Recorded pages served again by `bench.replay` (same keys and URLs as the simulator);
    with `rate_limit_scale`, under the documented rate limits ×scale."""

    def __init__(self, directory: Path, rate_limit_scale: float | None = None) -> None:
        # Not super().__init__: that starts a simulator.
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rate_limit_scale = rate_limit_scale
        limits = ["--rate-limit-scale", str(rate_limit_scale)] if rate_limit_scale else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.replay", str(directory), "--port", str(self.port),
             *limits],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _stats(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = httpx.get(f"{self.url}/_replay/stats", timeout=10).json()
        return stats

    def requests(self) -> dict[str, int]:
        return self._stats()["requests"]

    def rate_limited(self) -> dict[str, int]:
        return self._stats()["rate_limited"]


def _page_rows(page: Any) -> int:
    """Upstream rows in one page: list items, and the results inside report buckets."""
    if isinstance(page, list):
        return len(page)
    rows = 0
    for key in ("data", "teamMembers", "usageEvents", "teamMemberSpend"):
        for item in page.get(key) or []:
            rows += len(item["results"]) if isinstance(item, dict) and "results" in item else 1
    return rows


def recorded_rows(folder: Path) -> dict[str, int]:
    """Upstream rows per endpoint (as `bench.floor` names them) in a recording."""
    rows: dict[str, int] = {}
    for line in (folder / "index").read_text().splitlines():
        key, path = line.split(" ", 1)
        endpoint = endpoint_of(path)
        rows[endpoint] = rows.get(endpoint, 0) + _page_rows(json.loads((folder / key).read_bytes()))
    return rows


def _window_command(days: int) -> list[str]:
    start = LAST_DAY - timedelta(days=days - 1)
    return [sys.executable, "-m", "app.cli", "run", "--start", str(start),
            "--end", str(LAST_DAY)]  # fmt: skip


def _replayed(dsn: str, replay: Replay, command: list[str], repetitions: int) -> dict[str, Any]:
    """Median wall, CPU and peak RSS of a run against `replay`, and the requests it made."""
    walls, cpus, peaks, processes = [], [], [], []
    requests: dict[str, int] = {}
    env = replay.env(dsn)
    for _ in range(repetitions):
        asyncio.run(_truncate(dsn))
        before = replay.requests()
        run = _measured_run(command, env)
        if run.exit_code != 0:
            raise RuntimeError(f"replayed run {command[3:]} exited {run.exit_code}")
        requests = _difference(replay.requests(), before)
        walls.append(run.wall_seconds)
        cpus.append(run.cpu_seconds)
        peaks.append(run.peak_rss)
        processes.append(run.processes)
    return {
        "wall_seconds": median(walls),
        "cpu_seconds": median(cpus),
        "peak_rss_mb": median(peaks) / 2**20,
        "processes": max(processes),
        "requests": requests,
    }


def replay_runs(
    dsn: str,
    users: int,
    windows: tuple[int, ...],
    repetitions: int,
    scale: float,
    latency_ms: int,
) -> dict[str, Any]:
    """The full run per window against the simulator, as users run it, recording its pages;
    then runs against the recorded pages, so the figures are the pipeline's own: every source
    alone and all together over the longest window (CPU per million upstream rows, requests
    made, the full run against the slowest source), the full run over each shorter window
    (memory), and the full run under the documented rate limits ×`scale` (the floor)."""
    days = max(windows)
    results: dict[str, Any] = {
        "days": days, "users": users, "latency_ms": latency_ms, "windows": {},
        "simulator_runs": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="aup-replay-") as folder:
        recorder = Simulator(users, latency_ms, record=Path(folder))
        try:
            for window in sorted(windows, reverse=True):
                results["simulator_runs"][str(window)] = _simulator_run(dsn, recorder, window)
                if window == days:  # the longest window's pages alone
                    pages = [f for f in Path(folder).iterdir() if f.name != "index"]
                    results["recorded_pages"] = len(pages)
                    results["recorded_megabytes"] = sum(f.stat().st_size for f in pages) / 1e6
                    upstream_rows = recorded_rows(Path(folder))
        finally:
            recorder.stop()
        results["upstream_rows"] = upstream_rows
        replay = Replay(Path(folder))
        try:
            for label in (*SOURCES, "all"):
                sources = SOURCES if label == "all" else (label,)
                command = _window_command(days)
                run = _replayed(
                    dsn, replay, command if label == "all" else [*command, "--sources", label],
                    repetitions,
                )  # fmt: skip
                rows = sum(floor.per_source(upstream_rows, sources).values())
                run["upstream_rows"] = rows
                run["cpu_seconds_per_million_rows"] = run["cpu_seconds"] / max(1, rows) * 1e6
                results[label] = run
            results["windows"][str(days)] = results["all"]
            for window in windows:
                if window != days:
                    results["windows"][str(window)] = _replayed(
                        dsn, replay, _window_command(window), repetitions
                    )
        finally:
            replay.stop()
        results["rate_limit_floor"] = rate_limit_floor(dsn, Path(folder), users, days, scale)
    slowest = max(SOURCES, key=lambda source: results[source]["wall_seconds"])
    results["slowest_source"] = slowest
    results["full_over_slowest_source"] = (
        results["all"]["wall_seconds"] / results[slowest]["wall_seconds"]
    )
    # The best a run on this machine's cores can do: its slowest source, or its CPU spread
    # over every core.
    cores = os.cpu_count() or 1
    bound = max(results[slowest]["wall_seconds"], results["all"]["cpu_seconds"] / cores)
    results["full_run_bound_seconds"] = bound
    results["full_over_bound"] = results["all"]["wall_seconds"] / bound
    shortest = results["windows"][str(min(windows))]
    results["rss_ratio_long_over_short"] = results["all"]["peak_rss_mb"] / shortest["peak_rss_mb"]
    return results


async def _source_seconds(dsn: str) -> dict[str, float]:
    """How long each source of the latest run took, start to finish."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            """SELECT source, extract(epoch FROM finished_at - started_at) AS seconds
                 FROM ingestion_run_sources
                WHERE run_id = (SELECT id FROM ingestion_runs ORDER BY created_at DESC LIMIT 1)"""
        )
    finally:
        await connection.close()
    return {row["source"]: round(float(row["seconds"] or 0), 1) for row in rows}


def rate_limit_floor(
    dsn: str, recording: Path, users: int, days: int, scale: float
) -> dict[str, Any]:
    """Every source at once against the recorded pages served under the documented limits
    ×`scale`, with the client configured for the same limits: wall time against the floor —
    the slowest budget's fewest requests at its rate. (The simulator enforces the same limits
    with the same budgets; the recording keeps its CPU off the cores the run is measured on.)"""
    start = LAST_DAY - timedelta(days=days - 1)
    minimum = asyncio.run(floor.minimum_requests(users, start, LAST_DAY))
    upstream = Replay(recording, rate_limit_scale=scale)
    try:
        asyncio.run(_truncate(dsn))
        run = _measured_run(_window_command(days), upstream.env(dsn))
        if run.exit_code != 0:
            raise RuntimeError(f"rate-limited run over {days} days exited {run.exit_code}")
        made = upstream.requests()
        limited = upstream.rate_limited()
        per_source = asyncio.run(_source_seconds(dsn))
    finally:
        upstream.stop()
    needed = floor.per_source(minimum, tuple(floor.SOURCE_ENDPOINTS))
    budgets = floor.floor_seconds(needed, scale)
    slowest = max(budgets, key=lambda budget: budgets[budget])
    return {
        "days": days,
        "scale": scale,
        "minimum_requests": minimum,
        "floor_seconds": budgets,
        "floor_budget": slowest,
        "floor_seconds_documented": budgets[slowest] * scale,
        "requests": made,
        "rate_limited": limited,
        "wall_seconds": run.wall_seconds,
        "source_seconds": per_source,
        "wall_over_floor": run.wall_seconds / budgets[slowest],
    }


def _simulator_run(dsn: str, simulator: Simulator, days: int) -> dict[str, Any]:
    """The full run over `days` against the simulator: wall time, peak RSS, and where the
    machine's CPU went — the run, the simulator, PostgreSQL and the rest."""
    asyncio.run(_truncate(dsn))
    simulator_before = simulator.cpu_seconds()
    busy_before = _busy_cpu_seconds()
    run = _measured_run(_window_command(days), simulator.env(dsn))
    if run.exit_code != 0:
        raise RuntimeError(f"run over {days} days exited {run.exit_code}")
    simulated = simulator.cpu_seconds() - simulator_before
    return {
        "wall_seconds": run.wall_seconds,
        "peak_rss_mb": run.peak_rss / 2**20,
        "cpu_seconds": {
            "pipeline": run.cpu_seconds,
            "simulator": simulated,
            "other": _busy_cpu_seconds() - busy_before - simulated - run.cpu_seconds,
        },
    }


def api_latency(
    dsn: str, users: int, days: int, latency_ms: int, rate: int, seconds: float
) -> dict[str, Any]:
    """A served backfill of `days` days while another process drives GET traffic."""
    simulator = Simulator(users, latency_ms)
    port = _port()
    token = "bench-token-0123456789abcdefghijklmnop"
    env = {**simulator.env(dsn), "API_TOKEN": token}
    service = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/readyz")
        asyncio.run(_truncate(dsn))
        start = LAST_DAY - timedelta(days=days - 1)
        response = httpx.post(
            f"{url}/runs",
            json={"start_date": str(start), "end_date": str(LAST_DAY)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        response.raise_for_status()
        run_id = response.json()["id"]
        time.sleep(1.0)  # let the run get going
        load = subprocess.run(
            [sys.executable, "-m", "bench.load", url, run_id, "--rate", str(rate), "--seconds", str(seconds)],
            capture_output=True, text=True, timeout=seconds * 4 + 60, check=True,
            env={**os.environ, "AUP_BENCH_TOKEN": token},
        )  # fmt: skip
        result: dict[str, Any] = json.loads(load.stdout)
        status = httpx.get(
            f"{url}/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()["status"]
        result["run_status_at_end_of_load"] = status
        result["run_was_executing"] = status in ("running", "succeeded")
        return result
    finally:
        service.terminate()
        service.wait(timeout=60)
        simulator.stop()
