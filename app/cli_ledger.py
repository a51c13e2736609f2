"""What the data holds, here or on a running service (`--url`): `coverage` (every source the
ledger holds a day of, configured or not) and `sources` (the sources, accounts and our keys'
expiry). docs/cli.md has each one's output."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_errors import CommandError, exit_with
from app.cli_format import OutputMode, OutputOption, Printer, Sheet, resolve_mode
from app.cli_output import coverage_sheet, standing_errors
from app.cli_runs import TokenFileOption, UrlOption, open_backend

if TYPE_CHECKING:
    from app.api.coverage import CoverageOut
    from app.api.sources import SourceList
    from app.cli_backend import LocalBackend


def coverage(
    days: Annotated[int, typer.Option(help="How many days back from yesterday.", min=1)] = 30,
    source: Annotated[
        list[str] | None,
        typer.Option(help="A source (repeat it; default: configured, and the ledger's)."),
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option(help="An account (repeat it; default: configured, and the ledger's)."),
    ] = None,
    url: UrlOption = None,
    token_file: TokenFileOption = None,
    output: OutputOption = None,
) -> None:
    """Days × sources: final, provisional, failed or missing.

    Every source the ledger holds a day of, configured here or not, and the configured ones."""
    from app.cli_backend import LocalBackend
    from app.orchestration.run_request import utc_today

    printer = Printer(resolve_mode(output))
    end = utc_today() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    try:
        with open_backend(url, token_file) as backend:
            answer = backend.coverage(source or [], account or [], start, end)
            if isinstance(backend, LocalBackend):
                _say_unconfigured(backend, answer)
    except CommandError as error:
        raise exit_with(error) from None
    if printer.mode is OutputMode.JSON:
        printer.document(answer)
        return
    printer.sheet(coverage_sheet(answer))
    printer.lines(standing_errors(answer))


def _say_unconfigured(backend: LocalBackend, answer: CoverageOut) -> None:
    """This environment names no key: say that the calendar is the ledger's, not configured."""
    from app.orchestration.sources.registry import REGISTRY

    if REGISTRY.configured(backend.settings):
        return
    held = (
        "the sources the ledger holds"
        if answer.days
        else f"nothing: the ledger holds no day from {answer.start} to {answer.end}"
    )
    typer.echo(
        f"usage-pipeline: note: no source is configured in this environment; showing {held}"
        " (--url asks a running service)",
        err=True,
    )


def sources(
    url: UrlOption = None, token_file: TokenFileOption = None, output: OutputOption = None
) -> None:
    """Sources, accounts, and when our keys expire.

    The sources a run can name and their tables, each account's configured sources, and our
    keys' expiry where the upstream lists it."""
    printer = Printer(resolve_mode(output))
    try:
        with open_backend(url, token_file) as backend:
            answer = backend.sources()
    except CommandError as error:
        raise exit_with(error) from None
    if printer.mode is OutputMode.JSON:
        printer.document(answer)
        return
    for sheet in source_sheets(answer):
        printer.sheet(sheet)
    if not answer.accounts:
        printer.lines(["No account is configured here: no source can run (docs/configuration.md)."])
    if not answer.keys:
        printer.lines(["No key expiry known yet (Anthropic's keys list gives it; a run reads it)."])


def source_sheets(answer: SourceList) -> list[Sheet]:
    sources = [
        (s.name, s.table, "yes" if s.configured else "no", ", ".join(s.requires) or "—",
         ", ".join(s.waits_on) or "—", f"{s.revision_horizon_days} days")
        for s in answer.sources
    ]  # fmt: skip
    accounts = [
        (a.name, a.kind or "single-key settings", ", ".join(a.key_settings), ", ".join(a.sources))
        for a in answer.accounts
    ]
    sheets = [
        Sheet("sources", ("name", "table", "configured", "requires", "waits on",
                          "revision horizon"), sources),
        Sheet("accounts", ("name", "kind", "keys", "sources"), accounts),
    ]  # fmt: skip
    if answer.keys:
        keys = [
            (k.account, k.setting, f"{k.expires_at:%Y-%m-%d %H:%M}Z", f"{k.expires_in_days:.1f}",
             "rotate soon" if k.expiring_soon else "ok")
            for k in answer.keys
        ]  # fmt: skip
        sheets.append(Sheet("keys", ("account", "setting", "expires", "in days", ""), keys))
    return sheets
