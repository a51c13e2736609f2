"""The README's run command, as a user runs it: embedded PostgreSQL, simulator, a run, serving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_runs_then_serves_probes_on_the_embedded_database(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CURSOR_API_KEY", "ANTHROPIC_ADMIN_API_KEY"}
    }
    env |= {"DATA_DIR": str(data_dir), "COLUMNS": "160", "SCHEDULER_ENABLED": "false"}
    os.chmod(tmp_path, 0o777)
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--users", "12"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        ready = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, process.poll()
        assert httpx.get(f"http://127.0.0.1:{port}/livez").json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert "Run succeeded." in output, output
    assert "fact_cursor_daily_usage:" in output and "claude_code" in output
    assert "Cost by tool" in output and "cursor" in output  # Cursor's cost beside Claude's
    assert (data_dir / "pg" / "PG_VERSION").exists()  # the data lives in DATA_DIR
    # The embedded server stops with the last process using it.
    for _ in range(50):
        running = subprocess.run(
            ["pgrep", "-f", f"postgres -D {data_dir / 'pg'}"], capture_output=True
        )
        if running.returncode != 0:
            break
        time.sleep(0.2)
    assert running.returncode != 0, "embedded PostgreSQL still running after the service stopped"
