"""`usage-pipeline` command line."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.table import Table

from app.config import Settings, SettingsError, load_settings
from app.gc_tuning import tune_garbage_collector

cli = typer.Typer(
    name="usage-pipeline",
    help="Ingest Cursor and Claude usage into PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
key_owners_cli = typer.Typer(
    help="Maintain the api_key_owners mapping (CSV).", no_args_is_help=True
)
cli.add_typer(key_owners_cli, name="key-owners")
console = Console(stderr=True)
output = Console()


def settings_or_exit(**overrides: Any) -> Settings:
    """Load settings; a bad value ends the process with one line naming the variable."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"usage-pipeline: {exc}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    migrate: Annotated[bool, typer.Option(help="Run `alembic upgrade head` first.")] = False,
) -> None:
    """Run the HTTP service (API, worker and scheduler)."""
    _serve(settings_or_exit(), host, port, migrate)


def _serve(settings: Settings, host: str, port: int, migrate: bool) -> None:
    import uvicorn

    from app.main import create_app

    app = create_app(settings, migrate=migrate)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=5)
    _GracefulServer(app, config).run()


class _GracefulServer:
    """uvicorn, with /readyz turning 503 the moment SIGTERM or Ctrl-C arrives."""

    def __init__(self, app: Any, config: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                app.state.shutting_down = True
                super().handle_exit(sig, frame)

        self.server = Server(config)

    def run(self) -> None:
        self.server.run()


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision."""
    from app.repositories.database import resolve_dsn
    from app.repositories.embedded import release_embedded
    from app.repositories.migrations import upgrade_to_head

    try:
        upgrade_to_head(resolve_dsn(settings_or_exit()))
    finally:
        release_embedded()
    typer.echo("database schema is at head")


@cli.command("db-url")
def db_url() -> None:
    """Print the database DSN (starts the embedded server if DATABASE_URL is unset)."""
    from app.repositories.database import resolve_dsn

    typer.echo(resolve_dsn(settings_or_exit()))


def _parse_sources(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


@cli.command()
def run(
    start: Annotated[str | None, typer.Option(help="First UTC day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day (YYYY-MM-DD).")] = None,
    sources: Annotated[
        str | None,
        typer.Option(
            help="Comma list of cursor, claude_code, claude_usage, claude_cost, claude_ai."
        ),
    ] = None,
) -> None:
    """Run one ingestion in the foreground; exits non-zero unless it succeeded."""
    settings = settings_or_exit()
    _logs_quiet(settings)
    code = _run_and_report(settings, start, end, sources)
    raise typer.Exit(code)


def _logs_quiet(settings: Settings) -> None:
    """Progress goes to the terminal; keep structured logs for warnings and worse."""
    from app.logs import configure_logging

    configure_logging(settings.model_copy(update={"log_level": "WARNING", "log_format": "console"}))


def _run_and_report(
    settings: Settings, start: str | None, end: str | None, sources: str | None
) -> int:
    from app.orchestration.daily_job import SourceNotConfigured, default_window, resolve_sources
    from app.orchestration.oneshot import SchemaNotReady, run_once
    from app.repositories.embedded import release_embedded

    try:
        window_start, window_end = default_window(settings)
        window_start = date.fromisoformat(start) if start else window_start
        window_end = date.fromisoformat(end) if end else window_end
        if window_end < window_start:
            raise ValueError("--end is before --start")
        chosen = resolve_sources(settings, _parse_sources(sources))
        if not chosen:
            raise ValueError(
                "no source is configured: set CURSOR_API_KEY and/or ANTHROPIC_ADMIN_API_KEY"
            )
    except (ValueError, SourceNotConfigured) as exc:
        typer.echo(f"usage-pipeline: {exc}", err=True)
        return 2
    output.print(f"Run {window_start} → {window_end}: {', '.join(chosen)}")
    tune_garbage_collector()
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            _, outcome, summary = asyncio.run(
                run_once(
                    settings,
                    start=window_start,
                    end=window_end,
                    sources=chosen,
                    on_progress=lambda run: live.update(_progress_table(run)),
                )
            )
            live.update(_progress_table(summary["run"]))
    except SchemaNotReady as exc:
        typer.echo(f"usage-pipeline: {exc}", err=True)
        return 2
    finally:
        release_embedded()
    _print_summary(summary)
    output.print(f"Run {outcome.status}.")
    for name, progress in outcome.sources.items():
        if progress.last_error:
            output.print(f"  {name}: {progress.last_error}", markup=False)
    return 0 if outcome.status == "succeeded" else 1


PROGRESS_COLUMNS = (
    ("source", "source"),
    ("status", "status"),
    ("pages", "pages"),
    ("fetched", "rows_fetched"),
    ("inserted", "rows_inserted"),
    ("updated", "rows_updated"),
    ("unchanged", "rows_unchanged"),
    ("deleted", "rows_deleted"),
    ("retries", "retries"),
)


def _progress_table(run: dict[str, Any]) -> Table:
    """One line per source; errors are printed in full after the run."""
    table = Table(title=f"run {run['id']} — {run['status']}")
    table.add_column("days")
    for title, _ in PROGRESS_COLUMNS:
        table.add_column(title, no_wrap=True)
    for source in run["source_progress"]:
        days = f"{source['days_done']}/{source['days_total']}"
        table.add_row(days, *(str(source[key]) for _, key in PROGRESS_COLUMNS))
    return table


def _print_summary(summary: dict[str, Any]) -> None:
    cursor = summary["cursor"]
    output.print(
        f"fact_cursor_daily_usage: {cursor.people} people, "
        f"{cursor.active_days} active person-days, "
        f"{cursor.accepted_lines_added} accepted lines, {cursor.agent_requests} agent requests"
    )
    table = Table(title="fact_claude_daily_usage (through claude_usage_by_user_day)")
    for column in ("platform", "people", "tokens", "billed USD", "estimated USD"):
        table.add_column(column, justify="right")
    for row in summary["claude"]:
        table.add_row(
            row.platform,
            str(row.people),
            f"{row.tokens:,}",
            f"{row.billed_cost_usd:.2f}",
            f"{row.estimated_cost_usd:.2f}",
        )
    output.print(table)


@cli.command()
def simulate(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    users: Annotated[int, typer.Option(help="People in the simulated organisation.")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the ground truth.")] = 7,
    latency_ms: Annotated[int, typer.Option(help="Added latency per request.")] = 0,
    page_cap: Annotated[
        int | None, typer.Option(help="Cap items per page (to see paging).")
    ] = None,
) -> None:
    """Serve a local fake of the Cursor and Anthropic APIs (keys: see the README)."""
    import uvicorn

    from app.simulator.app import SimulatorOptions, create_simulator
    from app.simulator.faults import FaultSpec
    from app.simulator.model import GroundTruth

    app = create_simulator(GroundTruth(seed=seed, users=users), SimulatorOptions(page_cap=page_cap))
    if latency_ms:
        app.state.faults.add("*", FaultSpec(kind="latency", ms=latency_ms, times=None))
    tune_garbage_collector()  # it renders pages as allocation-heavy as the pipeline parses them
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _start_simulator(users: int) -> tuple[str, Any]:
    """The simulator on a free loopback port, in a daemon thread of this process."""
    import socket

    import uvicorn

    from app.simulator.app import create_simulator
    from app.simulator.model import GroundTruth

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


@cli.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the service.")] = 8000,
    users: Annotated[int, typer.Option(help="People in the simulated organisation.")] = 40,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving afterwards.")
    ] = True,
) -> None:
    """Embedded PostgreSQL + simulator + the service; one run triggered over HTTP and polled."""
    import secrets

    from app.repositories.database import resolve_dsn
    from app.repositories.migrations import upgrade_to_head
    from app.simulator.app import SimulatorOptions

    base_url, _ = _start_simulator(users)
    keys = SimulatorOptions()
    overrides: dict[str, Any] = {
        "cursor_api_key": keys.cursor_api_key,
        "cursor_api_base_url": base_url,
        "anthropic_admin_api_key": keys.admin_api_key,
        "anthropic_api_base_url": base_url,
        "claude_ai_activity_enabled": True,
        "anthropic_compliance_api_key": keys.compliance_api_key,
        "anthropic_analytics_api_key": keys.analytics_api_key,
        "upstream_retry_base_seconds": 0.2,
        "log_format": "console",
        "log_level": "WARNING",
        # The demo's run is the one it triggers over HTTP; `serve` runs the daily schedule.
        "scheduler_enabled": False,
    }
    settings = settings_or_exit(**overrides)
    if settings.api_token is None:
        settings = settings.model_copy(update={"api_token": SecretStr(secrets.token_urlsafe(24))})
    database = "DATABASE_URL" if settings.database_url else "embedded PostgreSQL"
    output.print(f"Simulator: {base_url}  ·  database: {database}")
    upgrade_to_head(resolve_dsn(settings))
    service = _ServiceThread(settings, port)
    try:
        service.start()
        code = _trigger_and_follow(settings, f"http://127.0.0.1:{port}")
        if code != 0 or not serve_after:
            raise typer.Exit(code)
        output.print(
            f"Serving on http://127.0.0.1:{port} (GET /runs, /livez, /readyz, /docs; POST /runs "
            "with the API_TOKEN as bearer). Ctrl-C stops."
        )
        service.wait()
    finally:
        service.stop()


class _ServiceThread:
    """The service in a thread of the demo process; SIGTERM and Ctrl-C stop it gracefully."""

    def __init__(self, settings: Settings, port: int) -> None:
        import uvicorn

        from app.main import create_app

        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="service")
        self.stopping = threading.Event()

    def start(self) -> None:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise typer.Exit(1)
            time.sleep(0.05)

    def wait(self) -> None:
        try:
            while not self.stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        self.app.state.shutting_down = True
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=60)


def _trigger_and_follow(settings: Settings, base: str) -> int:
    """POST /runs, then poll its Location until the run ends, showing progress."""
    import httpx

    from app.orchestration.oneshot import summarize

    assert settings.api_token is not None
    headers = {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        response = client.post("/runs", headers=headers, json={})
        if response.status_code == 409:  # the same window is already queued: follow that run
            output.print(f"POST /runs → 409: {response.json()['detail']}; following it")
            location = response.headers["Location"]
            run = client.get(location).json()
        elif response.status_code in (200, 202):
            location = response.headers["Location"]
            output.print(f"POST /runs → {response.status_code}, Location: {location}")
            run = response.json()
        else:
            output.print(f"POST /runs → {response.status_code}: {response.text}", markup=False)
            return 1
        with Live(console=console, refresh_per_second=4) as live:
            while run["status"] in ("queued", "running"):
                time.sleep(0.5)
                run = client.get(location).json()
                live.update(_progress_table(_as_progress(run)))
    summary = asyncio.run(
        summarize(
            settings, date.fromisoformat(run["window_start"]), date.fromisoformat(run["window_end"])
        )
    )
    _print_summary(summary)
    output.print(f"Run {run['status']}.")
    for source in run["progress"]:
        if source["error"]:
            output.print(f"  {source['source']}: {source['error']}", markup=False)
    return 0 if run["status"] == "succeeded" else 1


def _as_progress(run: dict[str, Any]) -> dict[str, Any]:
    """The API's run resource in the shape of the CLI progress table."""
    return {**run, "source_progress": run["progress"]}


@key_owners_cli.command("import")
def key_owners_import(path: Annotated[Path, typer.Argument(help="CSV file to import.")]) -> None:
    """Replace the mapping with FILE (validated whole first; nothing half-imported)."""
    from app.key_owners_csv import KeyOwnersFileError, parse_key_owners

    try:
        owners = parse_key_owners(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, KeyOwnersFileError) as exc:
        typer.echo(f"usage-pipeline: {path}: {exc}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(_with_connection(settings_or_exit(), "replace", owners))
    typer.echo(f"imported {len(owners)} key owner(s)")


@key_owners_cli.command("export")
def key_owners_export() -> None:
    """Write the mapping as CSV to standard output."""
    from app.key_owners_csv import format_key_owners

    owners = asyncio.run(_with_connection(settings_or_exit(), "read", None))
    sys.stdout.write(format_key_owners(owners))


async def _with_connection(settings: Settings, action: str, owners: Any) -> Any:
    import asyncpg

    from app.repositories import directory
    from app.repositories.database import resolve_dsn
    from app.repositories.embedded import release_embedded

    try:
        connection = await asyncpg.connect(await asyncio.to_thread(resolve_dsn, settings))
        try:
            if action == "replace":
                await directory.replace_key_owners(connection, owners)
                return None
            return await directory.key_owners(connection)
        finally:
            await connection.close()
    finally:
        await asyncio.to_thread(release_embedded)


def main() -> None:
    try:
        cli()
    except SettingsError as exc:  # settings read lazily inside a command
        typer.echo(f"usage-pipeline: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
