"""`usage-pipeline demo`: the simulator and the service in this process, one run triggered over
HTTP and followed to its end, as a new user would."""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from app import redaction
from app.api.schemas import RunOut
from app.cli_backend import RemoteBackend, follow
from app.cli_errors import CommandError, exit_code_of_run, exit_with
from app.cli_format import Printer, resolve_mode
from app.cli_output import RunView
from app.cli_remote import ServiceClient, service_url
from app.config import Settings
from app.orchestration.oneshot import summarize
from app.repositories.database import resolve_dsn
from app.repositories.migrations import upgrade_to_head
from app.simulator.app import SimulatorOptions, create_simulator
from app.simulator.model import GroundTruth


def start_simulator(users: int) -> tuple[str, uvicorn.Server]:
    """The simulator on a free loopback port, in a daemon thread of this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_simulator(GroundTruth(users=users)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    threading.Thread(target=server.run, daemon=True, name="simulator").start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def demo_overrides(base_url: str) -> dict[str, object]:
    """Settings that point every upstream at the simulator."""
    keys = SimulatorOptions()
    return {
        "cursor_api_key": keys.cursor_api_key,
        "cursor_api_base_url": base_url,
        "anthropic_admin_api_key": keys.admin_api_key,
        "anthropic_api_base_url": base_url,
        "claude_ai_activity_enabled": True,
        "anthropic_compliance_api_key": keys.compliance_api_key,
        "anthropic_analytics_api_key": keys.analytics_api_key,
        "github_token": keys.github_token,
        "github_organization": keys.github_organization,
        "github_api_base_url": base_url,
        "upstream_retry_base_seconds": 0.2,
        "log_format": "console",
        "log_level": "WARNING",
        # The demo's run is the one it triggers over HTTP; `serve` runs the daily schedule.
        "scheduler_enabled": False,
        # The demo serves on loopback only: its pages and GETs open, POSTs need its token.
        "api_reads_open": True,
        "embedded_database": True,
    }


def run_demo(settings: Settings, base_url: str, port: int, serve_after: bool) -> int:
    """Migrate, serve, trigger one run and follow it; keep serving if asked. The exit code."""
    if settings.api_token is None:
        token = SecretStr(secrets.token_urlsafe(32))
        settings = settings.model_copy(update={"api_token": token})
        redaction.remember(settings.secret_values())  # a copy runs no validator
    token_file = _write_token(settings)
    database = "DATABASE_URL" if settings.database_url else "embedded PostgreSQL"
    printer = Printer(resolve_mode(None))
    printer.lines([f"Simulator: {base_url}  ·  database: {database}"])
    upgrade_to_head(resolve_dsn(settings))
    service = ServiceThread(settings, port)
    try:
        if not service.start():
            return 1
        code = trigger_and_follow(settings, f"http://127.0.0.1:{port}", printer)
        if code != 0 or not serve_after:
            return code
        printer.lines([
            f"Serving on http://127.0.0.1:{port} (GET /runs, /sources, /coverage, /docs open to"
            f" loopback; POST /runs with the token in {token_file} as bearer). Ctrl-C stops.",
            f"Dashboard: http://127.0.0.1:{port}/ui/ — log in with the token in {token_file}"
            f" (`cat {token_file}`, paste it into the form).",
            f"From another shell: `usage-pipeline runs list --url http://127.0.0.1:{port}`,"
            f" `usage-pipeline trigger --wait --url http://127.0.0.1:{port}` (it finds this"
            " token), `usage-pipeline coverage`.",
        ])  # fmt: skip
        service.wait()
        return 0
    finally:
        service.stop()


def _write_token(settings: Settings) -> Path:
    """The demo's token, for curl: in a file only its owner reads, never on the screen."""
    assert settings.api_token is not None
    path = settings.data_dir / "demo-api-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(settings.api_token.get_secret_value() + "\n", encoding="utf-8")
    return path


class ServiceThread:
    """The service in a thread of the demo process; SIGTERM and Ctrl-C stop it gracefully."""

    def __init__(self, settings: Settings, port: int) -> None:
        from app.main import create_app

        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="service")
        self.stopping = threading.Event()

    def start(self) -> bool:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                return False
            time.sleep(0.05)
        return True

    def wait(self) -> None:
        try:
            while not self.stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        self.app.state.runtime.shutting_down = True
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=60)


def trigger_and_follow(settings: Settings, base: str, printer: Printer) -> int:
    """POST /runs, then follow the run to its end (as `usage-pipeline trigger --wait` does)
    and show what landed."""
    assert settings.api_token is not None
    client = ServiceClient(service_url(base), settings.api_token)
    backend = RemoteBackend(client)
    try:
        run, status = client.post("runs", RunOut, {}, key=str(uuid.uuid4()))
        printer.lines([f"POST /runs → {status}, Location: /runs/{run.id}"])
        with RunView(printer) as view:
            run = follow(backend, run, view)
            view.finished(run, asyncio.run(summarize(settings, run.window_start, run.window_end)))
    except CommandError as error:
        return int(exit_with(error).exit_code)
    finally:
        backend.close()
    return exit_code_of_run(run.status)
