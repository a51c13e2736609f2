"""`usage-pipeline accounts …`, `people …` and `key-owners …`: the directory an admin keeps."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import BaseModel, Field

from app.cli_errors import CommandError, ExitCode, database_errors, exit_with
from app.cli_format import OutputMode, OutputOption, Printer, Sheet, resolve_mode
from app.config import Settings

if TYPE_CHECKING:
    import asyncpg

T = TypeVar("T")

accounts_cli = typer.Typer(help="The accounts this deployment reads.", no_args_is_help=True)
people_cli = typer.Typer(
    help="People across accounts: addresses that belong to one person (CSV).",
    no_args_is_help=True,
)
key_owners_cli = typer.Typer(
    help="Maintain the api_key_owners mapping (CSV).", no_args_is_help=True
)


def _settings() -> Settings:
    from app.cli import settings_or_exit

    return settings_or_exit()


def with_connection(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work` on one connection (the embedded server released afterwards)."""

    async def connected() -> T:
        import asyncpg

        from app.repositories.database import resolve_dsn
        from app.repositories.embedded import release_embedded

        try:
            connection = await asyncpg.connect(await asyncio.to_thread(resolve_dsn, settings))
            try:
                return await work(connection)
            finally:
                await connection.close()
        finally:
            await asyncio.to_thread(release_embedded)

    try:
        with database_errors():
            return asyncio.run(connected())
    except CommandError as error:
        raise exit_with(error) from None


def _fail(message: str) -> typer.Exit:
    return exit_with(CommandError(message, ExitCode.INVALID))


class AccountListed(BaseModel):
    """`accounts list --output json`: one account, configured here or only in the data."""

    name: str
    configured: bool
    kind: str | None = Field(description="ACCOUNTS_FILE's kind; null: single-key settings.")
    sources: list[str]
    in_data: bool = Field(description="The coverage ledger holds days of it.")


@accounts_cli.command("list")
def list_accounts(output: OutputOption = None) -> None:
    """The configured accounts, their kinds and sources, and accounts only the data names."""
    from app.orchestration.sources.registry import REGISTRY
    from app.repositories.coverage import accounts_with_data

    settings = _settings()
    stored = with_connection(settings, accounts_with_data)
    configured = REGISTRY.accounts(settings)
    listed = [
        AccountListed(
            name=account.name, configured=True,
            kind=None if account.kind is None else account.kind.name,
            sources=list(REGISTRY.configured(account.settings)), in_data=account.name in stored,
        )
        for account in configured
    ] + [
        AccountListed(name=name, configured=False, kind=None, sources=[], in_data=True)
        for name in stored
        if name not in {account.name for account in configured}
    ]  # fmt: skip
    printer = Printer(resolve_mode(output))
    if printer.mode is OutputMode.JSON:
        printer.document({"accounts": listed})
        return
    rows = [
        (a.name, (a.kind or "single-key settings") if a.configured
         else "not configured (renamed? see `accounts rename`)",
         ", ".join(a.sources) or "—", "yes" if a.in_data else "no")
        for a in listed
    ]  # fmt: skip
    printer.sheet(Sheet("accounts", ("name", "kind", "sources", "in the data"), rows))


@accounts_cli.command("rename")
def rename_account(
    old: Annotated[str, typer.Argument(help="The name the data holds.")],
    new: Annotated[str, typer.Argument(help="The new name (rename it in ACCOUNTS_FILE too).")],
) -> None:
    """Rename an account in every table, in one transaction (stop the service first, or run
    it between runs: a run in flight would write under the old name)."""
    from app.orchestration import accounts

    async def rename(connection: asyncpg.Connection) -> dict[str, int]:
        return await accounts.rename_account(connection, old, new)

    try:
        renamed = with_connection(_settings(), rename)
    except accounts.AccountRenameError as exc:
        raise _fail(str(exc)) from None
    rows = sum(renamed.values())
    if rows == 0:
        raise _fail(f"no data holds account {old!r}; nothing renamed")
    counts = ", ".join(f"{table} {count}" for table, count in renamed.items() if count)
    typer.echo(f"renamed account {old} to {new}: {counts}")


def _import_csv(
    path: Path,
    parse: Callable[[str], list[T]],
    error: type[Exception],
    replace: Callable[[asyncpg.Connection, list[T]], Awaitable[None]],
    noun: str,
) -> None:
    """Validate the whole file first, then replace the table with it in one transaction."""
    try:
        listed = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, error) as exc:
        raise _fail(f"{path}: {exc}") from None

    async def write(connection: asyncpg.Connection) -> None:
        await replace(connection, listed)

    with_connection(_settings(), write)
    typer.echo(f"imported {len(listed)} {noun}")


@people_cli.command("import-aliases")
def import_aliases(path: Annotated[Path, typer.Argument(help="CSV file to import.")]) -> None:
    """Replace the aliases with FILE (validated whole first; nothing half-imported)."""
    from app.people_csv import AliasFileError, parse_aliases
    from app.repositories.people import replace_aliases

    _import_csv(path, parse_aliases, AliasFileError, replace_aliases, "alias(es)")


@people_cli.command("export-aliases")
def export_aliases() -> None:
    """Write the aliases as CSV to standard output."""
    from app.people_csv import format_aliases
    from app.repositories.people import aliases

    sys.stdout.write(format_aliases(with_connection(_settings(), aliases)))


@people_cli.command("import-logins")
def import_logins(path: Annotated[Path, typer.Argument(help="CSV file to import.")]) -> None:
    """Replace the login → email mapping with FILE (columns service, login, email, note)."""
    from app.people_csv import AliasFileError, parse_logins
    from app.repositories.people import replace_logins

    _import_csv(path, parse_logins, AliasFileError, replace_logins, "login(s)")


@people_cli.command("export-logins")
def export_logins() -> None:
    """Write the login → email mapping as CSV to standard output."""
    from app.people_csv import format_logins
    from app.repositories.people import logins

    sys.stdout.write(format_logins(with_connection(_settings(), logins)))


@key_owners_cli.command("import")
def key_owners_import(path: Annotated[Path, typer.Argument(help="CSV file to import.")]) -> None:
    """Replace the mapping with FILE (validated whole first; nothing half-imported)."""
    from app.key_owners_csv import KeyOwnersFileError, parse_key_owners
    from app.repositories.directory import replace_key_owners

    _import_csv(path, parse_key_owners, KeyOwnersFileError, replace_key_owners, "key owner(s)")


@key_owners_cli.command("export")
def key_owners_export() -> None:
    """Write the mapping (every account's) as CSV to standard output."""
    from app.key_owners_csv import format_key_owners
    from app.repositories.directory import KeyOwner, key_owners

    async def read(connection: asyncpg.Connection) -> list[KeyOwner]:
        return await key_owners(connection, None)

    sys.stdout.write(format_key_owners(with_connection(_settings(), read)))
