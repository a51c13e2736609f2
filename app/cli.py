"""`usage-pipeline` command line: serve, migrate, db-url (more commands join as they land)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app.config import Settings, SettingsError, load_settings

cli = typer.Typer(
    name="usage-pipeline",
    help="Ingest Cursor and Claude usage into PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def settings_or_exit() -> Settings:
    """Load settings; a bad value ends the process with one line naming the variable."""
    try:
        return load_settings()
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
    import uvicorn

    from app.main import create_app

    settings = settings_or_exit()
    app = create_app(settings, migrate=migrate)
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=5)


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision."""
    from app.repositories.database import resolve_dsn
    from app.repositories.migrations import upgrade_to_head

    upgrade_to_head(resolve_dsn(settings_or_exit()))
    typer.echo("database schema is at head")


@cli.command("db-url")
def db_url() -> None:
    """Print the database DSN (starts the embedded server if DATABASE_URL is unset)."""
    from app.repositories.database import resolve_dsn

    typer.echo(resolve_dsn(settings_or_exit()))


def main() -> None:
    try:
        cli()
    except SettingsError as exc:  # settings read lazily inside a command
        typer.echo(f"usage-pipeline: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
