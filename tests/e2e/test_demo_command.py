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
        _another_shell_operates_it(env, tmp_path, port)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert "Run succeeded." in output, output
    assert "\nfact_cursor_daily_usage:" in output and "claude_code" in output  # on its own line
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


def _another_shell_operates_it(env: dict[str, str], cwd: Path, port: int) -> None:
    """As the README says, from another shell in the same directory, with no key and no token
    given: the demo's days in the calendar, and a run of the demo's service followed to its
    end; a wrong address or token is one line and a non-zero exit."""
    shell = {key: value for key, value in env.items() if not key.endswith(("_KEY", "_TOKEN"))}

    def cli(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args], env=shell | more, cwd=cwd,
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip

    calendar = cli("coverage", "--days", "7")
    assert calendar.returncode == 0, calendar.stderr
    (row,) = [line for line in calendar.stdout.splitlines() if line.startswith("cursor ")]
    assert "~" in row or "✓" in row, calendar.stdout
    url = f"http://127.0.0.1:{port}"
    followed = cli("trigger", "--wait", "--url", url, "--sources", "cursor")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert followed.stdout.splitlines()[-1] == "Run succeeded."
    for wrong, extra in (("--url", {}), ("--url", {"USAGE_PIPELINE_TOKEN": "wrong-token-12345"})):
        target = f"http://127.0.0.1:{free_port()}" if not extra else url
        refused = cli("trigger", wrong, target, **extra)
        assert refused.returncode in (3, 4) and refused.stderr.count("\n") == 1, refused.stderr
