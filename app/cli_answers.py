"""`usage-pipeline teams …`, `budgets …`, `spend`, `seats`, `forecast`, `digest`: the answers
for people who do not write SQL (the same as the API's /insights, /budgets, /teams, /digest)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.cli_accounts import _fail, _import_csv, _settings, with_connection
from app.cli_errors import CommandError, database_errors, exit_with
from app.cli_format import OutputMode, OutputOption, Printer, Sheet, resolve_mode

if TYPE_CHECKING:
    import asyncpg

T = TypeVar("T")
teams_cli = typer.Typer(help="People's teams (CSV: email, team, effective_from, note).",
                        no_args_is_help=True)  # fmt: skip
budgets_cli = typer.Typer(help="Monthly budgets and their alerts.", no_args_is_help=True)


def with_pool(work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    settings = _settings()

    async def pooled() -> T:
        from app.repositories.database import create_pool, resolve_dsn
        from app.repositories.embedded import release_embedded

        try:
            pool = await create_pool(settings, await asyncio.to_thread(resolve_dsn, settings))
            try:
                return await work(pool)
            finally:
                await pool.close()
        finally:
            await asyncio.to_thread(release_embedded)

    try:
        with database_errors():
            return asyncio.run(pooled())
    except CommandError as error:
        raise exit_with(error) from None


def _yesterday() -> date:
    from app.orchestration.run_request import utc_today

    return utc_today() - timedelta(days=1)


@teams_cli.command("import")
def teams_import(path: Annotated[Path, typer.Argument(help="CSV file to import.")]) -> None:
    """Replace the teams with FILE (validated whole first; nothing half-imported)."""
    from app.people_csv import AliasFileError, parse_teams
    from app.repositories.alerts import replace_teams

    _import_csv(path, parse_teams, AliasFileError, replace_teams, "team membership(s)")


@teams_cli.command("export")
def teams_export() -> None:
    """Write the teams as CSV to standard output."""
    from app.people_csv import format_teams
    from app.repositories.alerts import teams

    sys.stdout.write(format_teams(with_connection(_settings(), teams)))


@budgets_cli.command("set")
def budgets_set(
    scope: Annotated[str, typer.Argument(help="organization, account, team, person or tool.")],
    monthly_usd: Annotated[str, typer.Argument(help="Billed USD a month.")],
    value: Annotated[str, typer.Option(help="Which team, person, … (not organization).")] = "",
    thresholds: Annotated[str, typer.Option(help="Fractions that alert.")] = "0.8,1",
) -> None:
    """Set a scope's monthly budget (again: its new amount and thresholds)."""
    from app.orchestration.insights import SCOPES, takes_value, threshold_ok
    from app.repositories.alerts import upsert_budget

    if scope not in SCOPES:
        raise _fail(f"scope: unknown {scope!r} (known: {', '.join(SCOPES)})")
    if takes_value(scope) == (value == ""):
        raise _fail(f"--value: {'not for' if value else 'required for'} scope {scope}")
    try:
        amount = Decimal(monthly_usd)
        levels = sorted({Decimal(part) for part in thresholds.split(",")})
    except InvalidOperation:
        raise _fail(
            f"monthly_usd and thresholds must be numbers: {monthly_usd}, {thresholds}"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise _fail(f"monthly_usd must be above 0: {monthly_usd}")
    if not all(threshold_ok(level) for level in levels):
        raise _fail(f"thresholds are fractions above 0: {thresholds}")

    async def save(connection: asyncpg.Connection) -> object:
        return await upsert_budget(connection, scope, value, amount, levels)

    saved = with_connection(_settings(), save)
    typer.echo(f"budget {saved.id}: {scope} {value} {amount} USD a month")  # type: ignore[attr-defined]


@budgets_cli.command("list")
def budgets_list(output: OutputOption = None) -> None:
    """Every budget (JSON: GET /budgets's shape)."""
    from app.api.budgets import BudgetOut
    from app.repositories.alerts import budgets

    printer = Printer(resolve_mode(output))
    found = [
        BudgetOut.model_validate(b, from_attributes=True)
        for b in with_connection(_settings(), budgets)
    ]
    if printer.mode is OutputMode.JSON:
        printer.document(found)
        return
    rows = [(str(b.id), b.scope, b.scope_value, str(b.monthly_usd),
             ", ".join(str(t) for t in b.thresholds)) for b in found]  # fmt: skip
    printer.sheet(Sheet("budgets", ("id", "scope", "value", "USD a month", "thresholds"), rows,
                        right=frozenset({"id", "USD a month"})))  # fmt: skip


@budgets_cli.command("remove")
def budgets_remove(budget_id: int) -> None:
    from app.repositories.alerts import delete_budget

    async def remove(connection: asyncpg.Connection) -> bool:
        return await delete_budget(connection, budget_id)

    if not with_connection(_settings(), remove):
        raise _fail(f"no budget {budget_id}")
    typer.echo(f"budget {budget_id} removed")


def spend(
    start: Annotated[str | None, typer.Option(help="First UTC day.")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day (default: yesterday).")] = None,
    by: Annotated[str, typer.Option(help="Dimensions, comma-separated.")] = "tool",
    output: OutputOption = None,
) -> None:
    """Spend by tool, platform, account, team, person, day, week or month.

    JSON: GET /insights/spend's shape."""
    from app.api.insights import SpendAnswer, SpendOut
    from app.orchestration import insights
    from app.orchestration.run_request import utc_today

    try:
        last = date.fromisoformat(end) if end else _yesterday()
        first = date.fromisoformat(start) if start else last.replace(day=1)
        insights.check_window(first, last, utc_today())
        keys = insights.check_group_by([key.strip() for key in by.split(",") if key.strip()])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    found = with_pool(lambda pool: insights.spend(pool, first, last, keys))
    printer = Printer(resolve_mode(output))
    if printer.mode is OutputMode.JSON:
        rows = [SpendOut.model_validate(row, from_attributes=True) for row in found]
        printer.document(SpendAnswer(start=first, end=last, group_by=keys, rows=rows))
        return
    money = ("billed USD", "of it provisional", "estimated USD", "consumption USD", "people")
    cells = [(*(row.group[k] for k in keys), f"{row.billed_usd:.2f}",
              f"{row.billed_provisional_usd:.2f}", f"{row.estimated_usd:.2f}",
              f"{row.consumption_usd:.2f}", str(row.people)) for row in found]  # fmt: skip
    printer.sheet(Sheet(f"Spend {first} – {last}", (*keys, *money), cells, right=frozenset(money)))


def seats(output: OutputOption = None) -> None:
    """Every seat of every tool: active, light, idle, new or no data.

    And what the idle ones cost a month. JSON: GET /insights/seats's shape."""
    from app.api.insights import SeatOut, SeatsAnswer
    from app.orchestration import insights

    settings = _settings()
    report = with_pool(lambda pool: insights.seats(pool, settings, _yesterday()))
    printer = Printer(resolve_mode(output))
    if printer.mode is OutputMode.JSON:
        printer.document(SeatsAnswer(
            start=report.start, end=report.end, reclaimable_usd=report.reclaimable_usd(),
            idle_everywhere=report.idle_everywhere(),
            seats=[SeatOut.model_validate(seat, from_attributes=True) for seat in report.seats],
        ))  # fmt: skip
        return
    rows = [(seat.tool, seat.account, seat.email or seat.seat, seat.status,
             str(seat.last_active or "—"),
             "—" if seat.monthly_price_usd is None else str(seat.monthly_price_usd))
            for seat in report.seats]  # fmt: skip
    columns = ("tool", "account", "person", "status", "last active", "USD a month")
    title = f"Seats {report.start} – {report.end}"
    printer.sheet(Sheet(title, columns, rows, right=frozenset({"USD a month"})))
    printer.lines([f"Idle seats cost {report.reclaimable_usd():.2f} USD a month."])


def digest(
    week: Annotated[
        str | None, typer.Option(help="A day of the week (default: last week).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", hidden=True)] = False,
    output: OutputOption = None,
) -> None:
    """The weekly digest: Markdown, or JSON with --output json (GET /digest's shape)."""
    from app.orchestration.digest import build_digest

    settings = _settings()
    try:
        day = date.fromisoformat(week) if week else _yesterday() - timedelta(days=6)
    except ValueError:
        raise _fail(f"--week: {week!r} is not a day (YYYY-MM-DD)") from None
    found = with_pool(lambda pool: build_digest(pool, settings, day))
    if as_json or output is OutputMode.JSON:
        Printer(OutputMode.JSON).document(found.as_json())
    else:
        sys.stdout.write(found.markdown())
