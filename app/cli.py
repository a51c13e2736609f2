"""`usage-pipeline` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli_accounts import accounts_cli, key_owners_cli, people_cli
from app.cli_answers import budgets_cli, digest, seats, spend, teams_cli
from app.cli_foreground import run
from app.cli_ledger import coverage, sources
from app.cli_runs import heal, runs_cli, trigger
from app.config import Settings, SettingsError, load_settings
from app.gc_tuning import tune_garbage_collector
from app.metrics_directory import settle_metrics_directory

cli = typer.Typer(
    name="usage-pipeline",
    help="Ingest Cursor, Claude and Copilot usage into PostgreSQL, and operate the service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cli.add_typer(key_owners_cli, name="key-owners")
cli.add_typer(accounts_cli, name="accounts")
cli.add_typer(people_cli, name="people")
cli.add_typer(teams_cli, name="teams")
cli.add_typer(budgets_cli, name="budgets")
cli.add_typer(runs_cli, name="runs")
cli.command()(run)
cli.command()(trigger)
cli.command()(heal)
cli.command()(coverage)
cli.command()(sources)
cli.command()(spend)
cli.command()(seats)
cli.command()(digest)


def settings_or_exit(**overrides: object) -> Settings:
    """Load settings; a bad value ends the process with one line naming the variable."""
    from app.orchestration.sources.registry import REGISTRY

    try:
        settings = load_settings(**overrides)
        REGISTRY.check_settings(settings)
        return settings
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
    settings = settings_or_exit()
    if settings.database_url is None and not settings.embedded_database:
        typer.echo(
            "usage-pipeline: DATABASE_URL is not set: serve needs a PostgreSQL (for a try-out"
            " on an embedded server in DATA_DIR, set EMBEDDED_DATABASE=true)",
            err=True,
        )
        raise typer.Exit(2)
    _serve(settings, host, port, migrate)


KEEP_ALIVE_SECONDS = 75


def _serve(settings: Settings, host: str, port: int, migrate: bool) -> None:
    import uvicorn

    from app.main import create_app

    app = create_app(settings, migrate=migrate)
    if settings.metrics_port is not None:
        from app.api.metrics import serve_on_own_port

        serve_on_own_port(host, settings.metrics_port)
    # Idle keep-alive connections outlive a load balancer's (60 s on most) and a client's own
    # expiry (httpx: 5 s): the service is never the side that closes one a request is racing
    # into (uvicorn's default, 5 s, is: a 502 behind a balancer, a dropped request here).
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )  # fmt: skip
    _GracefulServer(app, config).run()


class _GracefulServer:
    """uvicorn, with /readyz turning 503 the moment SIGTERM or Ctrl-C arrives."""

    def __init__(self, app: Any, config: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                app.state.runtime.shutting_down = True
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
    rate_limit_scale: Annotated[
        float | None,
        typer.Option(help="Enforce the documented rate limits, each ×this (1 = as documented)."),
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Keep every page served in this folder (for a replay).")
    ] = None,
    accounts_file: Annotated[
        Path | None,
        typer.Option(
            help="Serve four accounts (Cursor teams north and south, organisations org and lab)"
            " under /<account>, and write their ACCOUNTS_FILE here (docs/accounts.md)."
        ),
    ] = None,
) -> None:
    """Serve a local fake of the Cursor and Anthropic APIs (keys: see the README)."""
    import uvicorn

    _require_simulator()
    from app.simulator import accounts
    from app.simulator.app import SimulatorOptions, create_simulator
    from app.simulator.faults import FaultSpec
    from app.simulator.model import GroundTruth

    options = SimulatorOptions(
        page_cap=page_cap, rate_limit_scale=rate_limit_scale, record_to=record
    )
    served = [create_simulator(GroundTruth(seed=seed, users=users), options)]
    app = served[0]
    if accounts_file is not None:
        world = accounts.four_accounts(users, seed, options)
        app = accounts.create_accounts_simulator(world)
        served = list(app.state.accounts.values())
        accounts_file.write_text(accounts.accounts_file(world, f"http://{host}:{port}"))
        for name, secret in accounts.accounts_environment(world).items():
            typer.echo(f"export {name}={secret}")
    for one in served if latency_ms else ():
        one.state.faults.add("*", FaultSpec(kind="latency", ms=latency_ms, times=None))
    tune_garbage_collector()  # it renders pages as allocation-heavy as the pipeline parses them
    uvicorn.run(app, host=host, port=port, log_level="warning")


@cli.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the service.")] = 8000,
    users: Annotated[int, typer.Option(help="People in the simulated organisation.")] = 40,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving afterwards.")
    ] = True,
) -> None:
    """Embedded PostgreSQL + simulator + the service; one run triggered over HTTP and polled."""
    _require_simulator()
    from app.cli_demo import demo_overrides, run_demo, start_simulator

    base_url, _ = start_simulator(users)
    settings = settings_or_exit(**demo_overrides(base_url))
    raise typer.Exit(run_demo(settings, base_url, port, serve_after))


def _require_simulator() -> None:
    """The production image ships without the simulator: say so in one line."""
    import importlib.util

    if importlib.util.find_spec("app.simulator") is None:
        typer.echo(
            "usage-pipeline: the simulator is not part of this installation (the production"
            " image leaves it out); run it from a source checkout",
            err=True,
        )
        raise typer.Exit(2)


def main() -> None:
    settle_metrics_directory()  # before anything imports prometheus_client
    try:
        cli()
    except SettingsError as exc:  # settings read lazily inside a command
        typer.echo(f"usage-pipeline: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
