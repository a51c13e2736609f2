"""End-to-end runs, memory, and API latency during a backfill — the service as users run it.

The simulator runs in its own process (10,000 people, 50 ms per page, rate limits off), the
ingestion runs as `usage-pipeline run` (each source alone, then all at once) and as a served
run polled over HTTP while another process drives GET traffic at it.
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

    def requests(self) -> dict[str, int]:
        """Requests the simulator has answered so far, per endpoint (429s included)."""
        counts: dict[str, int] = httpx.get(f"{self.url}/_sim/faults", timeout=10).json()["requests"]
        return counts

    def rate_limited(self) -> dict[str, int]:
        limited: dict[str, int] = httpx.get(f"{self.url}/_sim/faults", timeout=10).json()[
            "rate_limited"
        ]
        return limited

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
    peak_rss: int
    cpu_seconds: float  # of the run process itself (user + system)


def _measured_run(command: list[str], env: dict[str, str]) -> Measured:
    """Wall time, exit code, peak RSS (bytes) and CPU time of a command, polled every 50 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    watched = psutil.Process(process.pid)
    peak = 0
    cpu = 0.0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
            times = watched.cpu_times()
            cpu = times.user + times.system
        except psutil.Error:
            break
        time.sleep(0.05)
    return Measured(time.perf_counter() - started, process.wait(), peak, cpu)


def _busy_cpu_seconds() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0))


async def _events_written(dsn: str) -> int:
    """How many Cursor usage events the spend columns were folded from."""
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT coalesce(sum(usage_events), 0) FROM fact_cursor_daily_usage"
            )
        )
    finally:
        await connection.close()


async def _truncate(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("TRUNCATE fact_claude_daily_usage, fact_cursor_daily_usage")
    finally:
        await connection.close()


def _difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


class Replay(Simulator):
    """Recorded pages served again by `bench.replay` (same keys and URLs as the simulator)."""

    def __init__(self, directory: Path) -> None:  # not super().__init__: that starts a simulator
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rate_limit_scale = None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.replay", str(directory), "--port", str(self.port)],
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
    endpoints = {e for names in floor.SOURCE_ENDPOINTS.values() for e in names}
    rows: dict[str, int] = {}
    for line in (folder / "index").read_text().splitlines():
        key, path = line.split(" ", 1)
        endpoint = next((e for e in endpoints if path.endswith("/" + e)), path)
        rows[endpoint] = rows.get(endpoint, 0) + _page_rows(json.loads((folder / key).read_bytes()))
    return rows


def replay_runs(dsn: str, users: int, days: int, repetitions: int) -> dict[str, Any]:
    """Every source alone and all together against recorded pages: the pipeline's own CPU per
    million upstream rows, and the full run against the slowest source alone."""
    start = LAST_DAY - timedelta(days=days - 1)
    command = [sys.executable, "-m", "app.cli", "run", "--start", str(start),
               "--end", str(LAST_DAY)]  # fmt: skip
    results: dict[str, Any] = {"days": days, "users": users}
    with tempfile.TemporaryDirectory(prefix="aup-replay-") as folder:
        recorder = Simulator(users, 0, record=Path(folder))
        try:
            asyncio.run(_truncate(dsn))
            recorded = _measured_run(command, recorder.env(dsn))
            if recorded.exit_code != 0:
                raise RuntimeError(f"recording run exited {recorded.exit_code}")
        finally:
            recorder.stop()
        pages = [f for f in Path(folder).iterdir() if f.name != "index"]
        results["recorded_pages"] = len(pages)
        results["recorded_megabytes"] = sum(f.stat().st_size for f in pages) / 1e6
        upstream_rows = recorded_rows(Path(folder))
        results["upstream_rows"] = upstream_rows
        replay = Replay(Path(folder))
        try:
            env = replay.env(dsn)
            for label in (*SOURCES, "all"):
                walls, cpus = [], []
                sources = SOURCES if label == "all" else (label,)
                rows = sum(floor.per_source(upstream_rows, sources).values())
                for _ in range(repetitions):
                    asyncio.run(_truncate(dsn))
                    run = _measured_run(
                        command if label == "all" else [*command, "--sources", label], env
                    )
                    if run.exit_code != 0:
                        raise RuntimeError(f"replayed run {label} exited {run.exit_code}")
                    walls.append(run.wall_seconds)
                    cpus.append(run.cpu_seconds)
                results[label] = {
                    "wall_seconds": median(walls),
                    "cpu_seconds": median(cpus),
                    "upstream_rows": rows,
                    "cpu_seconds_per_million_rows": median(cpus) / max(1, rows) * 1e6,
                }
        finally:
            replay.stop()
    slowest = max(SOURCES, key=lambda source: results[source]["wall_seconds"])
    results["slowest_source"] = slowest
    results["full_over_slowest_source"] = (
        results["all"]["wall_seconds"] / results[slowest]["wall_seconds"]
    )
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
    dsn: str, users: int, days: int, latency_ms: int, scale: float
) -> dict[str, Any]:
    """Every source at once against the simulator enforcing the documented limits ×`scale`,
    with the client configured for the same limits: wall time against the floor — the
    slowest budget's fewest requests at its rate."""
    start = LAST_DAY - timedelta(days=days - 1)
    minimum = asyncio.run(floor.minimum_requests(users, start, LAST_DAY))
    simulator = Simulator(users, latency_ms, rate_limit_scale=scale)
    try:
        asyncio.run(_truncate(dsn))
        command = [sys.executable, "-m", "app.cli", "run", "--start", str(start),
                   "--end", str(LAST_DAY)]  # fmt: skip
        run = _measured_run(command, simulator.env(dsn))
        if run.exit_code != 0:
            raise RuntimeError(f"rate-limited run over {days} days exited {run.exit_code}")
        made = simulator.requests()
        limited = simulator.rate_limited()
        per_source = asyncio.run(_source_seconds(dsn))
    finally:
        simulator.stop()
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


def runs(
    dsn: str,
    users: int,
    windows: tuple[int, ...],
    repetitions: int,
    long_repetitions: int,
    latency_ms: int,
) -> dict[str, Any]:
    """Each source alone and the full run, per window (the longest `long_repetitions` times,
    the others `repetitions` times); the full run's peak RSS."""
    simulator = Simulator(users, latency_ms)
    results: dict[str, Any] = {"users": users, "latency_ms": latency_ms, "windows": {}}
    try:
        env = simulator.env(dsn)
        for days in windows:
            start = LAST_DAY - timedelta(days=days - 1)
            base = [
                sys.executable,
                "-m",
                "app.cli",
                "run",
                "--start",
                str(start),
                "--end",
                str(LAST_DAY),
            ]
            window: dict[str, Any] = {
                "repetitions": long_repetitions if days == max(windows) else repetitions
            }
            for label in (*SOURCES, "all"):
                walls, peaks, events, requests = [], [], [], []
                cpu: dict[str, list[float]] = {"pipeline": [], "simulator": [], "other": []}
                for _ in range(window["repetitions"]):
                    asyncio.run(_truncate(dsn))
                    command = base if label == "all" else [*base, "--sources", label]
                    simulator_before = simulator.cpu_seconds()
                    requests_before = simulator.requests()
                    busy_before = _busy_cpu_seconds()
                    run = _measured_run(command, env)
                    requests.append(_difference(simulator.requests(), requests_before))
                    if run.exit_code != 0:
                        raise RuntimeError(f"run {label} over {days} days exited {run.exit_code}")
                    walls.append(run.wall_seconds)
                    peaks.append(run.peak_rss)
                    if label == "cursor_spend":
                        events.append(asyncio.run(_events_written(dsn)))
                    simulated = simulator.cpu_seconds() - simulator_before
                    cpu["pipeline"].append(run.cpu_seconds)
                    cpu["simulator"].append(simulated)
                    cpu["other"].append(
                        _busy_cpu_seconds() - busy_before - simulated - run.cpu_seconds
                    )
                window[label] = {
                    "requests": requests[-1],
                    "wall_seconds": median(walls),
                    "peak_rss_mb": median(peaks) / 2**20,
                    # Where the machine's CPU went: the run, the simulator, PostgreSQL + rest.
                    "cpu_seconds": {name: median(values) for name, values in cpu.items()},
                }
                if events:  # the events source: throughput and the pipeline's CPU per event
                    window[label]["events"] = median(events)
                    window[label]["events_per_second"] = median(events) / median(walls)
                    window[label]["cpu_seconds_per_million_events"] = (
                        median(cpu["pipeline"]) / max(1, median(events)) * 1_000_000
                    )
            slowest = max(window[s]["wall_seconds"] for s in SOURCES)
            window["full_over_slowest_source"] = window["all"]["wall_seconds"] / slowest
            results["windows"][str(days)] = window
    finally:
        simulator.stop()
    if len(windows) >= 2:
        small, large = results["windows"][str(min(windows))], results["windows"][str(max(windows))]
        results["rss_ratio_long_over_short"] = (
            large["all"]["peak_rss_mb"] / small["all"]["peak_rss_mb"]
        )
    return results


def api_latency(
    dsn: str, users: int, days: int, latency_ms: int, rate: int, seconds: float
) -> dict[str, Any]:
    """A served backfill of `days` days while another process drives GET traffic."""
    simulator = Simulator(users, latency_ms)
    port = _port()
    token = "bench-token-0123456789"
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
        )  # fmt: skip
        result: dict[str, Any] = json.loads(load.stdout)
        status = httpx.get(f"{url}/runs/{run_id}", timeout=10).json()["status"]
        result["run_status_at_end_of_load"] = status
        result["run_was_executing"] = status in ("running", "succeeded")
        return result
    finally:
        service.terminate()
        service.wait(timeout=60)
        simulator.stop()
