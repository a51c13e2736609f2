"""Runs in this process: `usage-pipeline run`, and `heal` without --url. Progress, what landed
and the outcome in the chosen output mode; the exit code by the run's status."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_errors import CommandError, ExitCode, exit_code_of_run, exit_with
from app.cli_format import OutputMode, OutputOption, Printer, resolve_mode
from app.cli_output import RunView
from app.config import Settings
from app.gc_tuning import tune_garbage_collector

if TYPE_CHECKING:
    from app.orchestration.run_request import PlannedRun
    from app.repositories.runs import RunRecord


def comma_list(value: str | None) -> list[str] | None:
    """`--sources a,b` and `--accounts a,b` as a list (None: not given)."""
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    from app.repositories.database import storable_day

    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None
    try:
        return storable_day(day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def run(
    start: Annotated[str | None, typer.Option(help="First UTC day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day (YYYY-MM-DD).")] = None,
    sources: Annotated[
        str | None,
        typer.Option(help="Comma list of source names (`usage-pipeline sources` lists them)."),
    ] = None,
    accounts: Annotated[
        str | None,
        typer.Option(help="Comma list of account names (`usage-pipeline accounts list`)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Check the request and print the run it makes; run nothing.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Run one ingestion in this process; exits non-zero unless it succeeded.

    The window and sources follow the same rules as POST /runs (exit 2 with the reason)."""
    from app.cli import settings_or_exit
    from app.orchestration.run_request import InvalidRunRequest, RunRequest, plan_run

    settings = settings_or_exit()
    asked = RunRequest(
        _parse_day(start, "--start"), _parse_day(end, "--end"),
        comma_list(sources), comma_list(accounts),
    )  # fmt: skip
    try:
        plan = plan_run(settings, asked)
    except InvalidRunRequest as exc:
        raise exit_with(CommandError(str(exc), ExitCode.INVALID)) from None
    printer = Printer(resolve_mode(output))
    announce(printer, plan)
    if not dry_run:
        raise typer.Exit(run_here(settings, plan, printer))


def announce(printer: Printer, plan: PlannedRun) -> None:
    """The run about to start: its window, sources and each account's."""
    from app.accounts import DEFAULT_ACCOUNT

    if printer.mode is OutputMode.JSON:
        printer.event(
            "planned", start=plan.start, end=plan.end, sources=plan.sources,
            accounts=plan.by_account,
        )  # fmt: skip
        return
    lines = [f"Run {plan.start} → {plan.end}: {', '.join(plan.sources)}"]
    if list(plan.by_account) != [DEFAULT_ACCOUNT]:
        lines += [
            f"  account {name}: {', '.join(names)}" for name, names in plan.by_account.items()
        ]
    printer.lines(lines)


def _logs_quiet(settings: Settings) -> Settings:
    """Progress goes to standard output; keep structured logs (this process's and its worker
    processes') for warnings and worse, on standard error."""
    from app.logs import configure_logging

    quiet = settings.model_copy(update={"log_level": "WARNING", "log_format": "console"})
    configure_logging(quiet)
    return quiet


def run_here(settings: Settings, plan: PlannedRun, printer: Printer) -> int:
    """Run `plan` in this process, shown in the printer's mode; the exit code."""
    from app.api.schemas import RunOut
    from app.orchestration.oneshot import DatabaseUnreachable, SchemaNotReady, run_once
    from app.repositories.embedded import release_embedded
    from app.repositories.run_queue import OverlappingRun

    tune_garbage_collector()
    try:
        with RunView(printer) as view:

            def show(record: RunRecord) -> None:
                view.update(RunOut.from_record(record))

            result = asyncio.run(run_once(_logs_quiet(settings), plan, on_progress=show))
            view.finished(RunOut.from_record(result.run), result.summary)
    except SchemaNotReady as exc:
        raise exit_with(CommandError(str(exc), ExitCode.INVALID)) from None
    except DatabaseUnreachable as exc:
        raise exit_with(CommandError(str(exc), ExitCode.UNREACHABLE)) from None
    except OverlappingRun as exc:
        raise exit_with(CommandError(str(exc), ExitCode.CONFLICT)) from None
    finally:
        release_embedded()
    return exit_code_of_run(result.outcome.status)


def heal_here(settings: Settings, accounts: list[str] | None, printer: Printer) -> int:
    """Re-read, in this process, every day of the horizon not yet final (the schedule's heal)."""
    from app.cli_answers import with_pool
    from app.orchestration.heal import nothing_to_heal, plan_heal
    from app.orchestration.run_request import InvalidRunRequest

    try:
        plan = with_pool(lambda pool: plan_heal(pool, settings, accounts=accounts))
    except InvalidRunRequest as exc:
        raise exit_with(CommandError(str(exc), ExitCode.INVALID)) from None
    if plan is None:
        say_nothing_to_heal(printer, nothing_to_heal(settings))
        return ExitCode.OK
    announce(printer, plan)
    return run_here(settings, plan, printer)


def say_nothing_to_heal(printer: Printer, detail: str) -> None:
    if printer.mode is OutputMode.JSON:
        printer.event("nothing_to_heal", detail=detail)
    else:
        printer.lines([detail[0].upper() + detail[1:] + "."])
