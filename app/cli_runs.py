"""Operator commands, here or on a running service: `runs list|show|cancel`, `coverage`,
`sources` (the database of this machine's settings, or `--url`), and `trigger`, `heal` (a
service's queue). docs/cli.md has each one's output and exit codes."""

from __future__ import annotations

import uuid
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_backend import Backend, LocalBackend, RemoteBackend, RunsQuery, follow
from app.cli_errors import CommandError, ExitCode, exit_code_of_run, exit_with
from app.cli_foreground import comma_list
from app.cli_format import OutputMode, OutputOption, Printer, Sheet, resolve_mode
from app.cli_output import RunView, outcome_lines, progress_sheet
from app.cli_remote import ServiceClient, find_token, service_url
from app.config import SettingsError, load_settings
from app.vocabulary import RunStatus, RunTrigger

if TYPE_CHECKING:  # the API's modules import the metrics: not before the CLI settles them
    from app.api.schemas import RunOut

URL_VARIABLE = "USAGE_PIPELINE_URL"
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", envvar=URL_VARIABLE,
        help="A running service's address: ask it, not this machine's database.",
    ),
]  # fmt: skip
TokenFileOption = Annotated[
    Path | None,
    typer.Option(
        "--token-file", envvar="USAGE_PIPELINE_TOKEN_FILE",
        help="A file holding the service's API token (or set USAGE_PIPELINE_TOKEN).",
    ),
]  # fmt: skip
WaitOption = Annotated[bool, typer.Option("--wait", help="Follow the run to its end.")]

runs_cli = typer.Typer(
    help="Runs: list, show (and follow), cancel — here, or on a service with --url.",
    no_args_is_help=True,
)


def open_backend(url: str | None, token_file: Path | None) -> closing[Backend]:
    """The service at `url` (with its token), else this machine's database."""
    from app.cli import settings_or_exit

    if url is None:
        backend: Backend = LocalBackend(settings_or_exit())
    else:
        backend = RemoteBackend(_client(url, token_file))
    return closing(backend)  # closed (and an embedded server released) however it ends


def remote_client(url: str | None, token_file: Path | None, command: str) -> ServiceClient:
    if url is None:
        raise CommandError(
            f"{command} queues a run on a running service: give --url or {URL_VARIABLE}"
            " (`usage-pipeline run` runs one here, in this process)",
            ExitCode.INVALID,
        )
    return _client(url, token_file)


def _client(url: str, token_file: Path | None) -> ServiceClient:
    address = service_url(url)
    try:
        data_dir = load_settings().data_dir  # only to find the demo's token
    except SettingsError:
        data_dir = None
    return ServiceClient(address, find_token(token_file, address, data_dir))


def run_header(run: RunOut) -> list[str]:
    lines = [
        f"run {run.id}: {run.status} ({run.trigger}, requested by {run.requested_by or '—'})",
        f"  window {run.window_start} → {run.window_end}: {', '.join(run.sources)}"
        f" (accounts: {', '.join(run.accounts)})",
        f"  created {run.created_at:%Y-%m-%d %H:%M:%S}Z"
        + (f", started {run.started_at:%H:%M:%S}Z" if run.started_at else "")
        + (f", finished {run.finished_at:%H:%M:%S}Z" if run.finished_at else ""),
    ]
    if run.status_reason:
        lines.append(f"  reason: {run.status_reason}")
    return lines


def show_run(printer: Printer, run: RunOut) -> None:
    if printer.mode is OutputMode.JSON:
        printer.document(run)
        return
    progress = [source.to_progress() for source in run.progress]
    printer.lines(run_header(run))
    printer.sheet(progress_sheet(run.id, run.status, progress))
    printer.lines(outcome_lines(run.status, progress)[1:])


def follow_to_end(backend: Backend, printer: Printer, run: RunOut) -> int:
    """Follow `run` in the printer's mode; the exit code of how it ended."""
    with RunView(printer) as view:
        run = follow(backend, run, view)
        view.finished(run)
    return exit_code_of_run(run.status)


@runs_cli.command("list")
def runs_list(
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this status.")] = None,
    trigger: Annotated[RunTrigger | None, typer.Option(help="Only runs started so.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=100)] = 20,
    before: Annotated[uuid.UUID | None, typer.Option(help="Runs older than this one.")] = None,
    url: UrlOption = None,
    token_file: TokenFileOption = None,
    output: OutputOption = None,
) -> None:
    """Runs, newest first."""
    printer = Printer(resolve_mode(output))
    try:
        with open_backend(url, token_file) as backend:
            page = backend.runs(RunsQuery(status, trigger, limit, before))
    except CommandError as error:
        raise exit_with(error) from None
    if printer.mode is OutputMode.JSON:
        printer.document(page)
        return
    rows = [
        (str(run.id), run.status, run.trigger, f"{run.window_start} → {run.window_end}",
         ", ".join(run.sources), ", ".join(run.accounts), run.requested_by or "—",
         f"{run.created_at:%Y-%m-%d %H:%M}Z",
         f"{run.finished_at:%Y-%m-%d %H:%M}Z" if run.finished_at else "—")
        for run in page.runs
    ]  # fmt: skip
    columns = ("id", "status", "trigger", "window", "sources", "accounts", "requested by",
               "created", "finished")  # fmt: skip
    printer.sheet(Sheet("runs", columns, rows))
    if page.next is not None:
        printer.lines([f"older: --before {page.runs[-1].id}"])


@runs_cli.command("show")
def runs_show(
    run_id: Annotated[uuid.UUID, typer.Argument(help="The run's id.")],
    wait: WaitOption = False,
    url: UrlOption = None,
    token_file: TokenFileOption = None,
    output: OutputOption = None,
) -> None:
    """A run: status, window, each source's progress and errors; --wait follows it.

    With --wait the exit code is the run's: 0 succeeded, 1 otherwise."""
    printer = Printer(resolve_mode(output))
    try:
        with open_backend(url, token_file) as backend:
            run = backend.run(run_id)
            if wait:
                if printer.mode is not OutputMode.JSON:
                    printer.lines(run_header(run))
                raise typer.Exit(follow_to_end(backend, printer, run))
    except CommandError as error:
        raise exit_with(error) from None
    show_run(printer, run)


@runs_cli.command("cancel")
def runs_cancel(
    run_id: Annotated[uuid.UUID, typer.Argument(help="The run's id.")],
    url: UrlOption = None,
    token_file: TokenFileOption = None,
    output: OutputOption = None,
) -> None:
    """Cancel a queued or running run.

    A running source stops at its next page; its open day rolls back."""
    printer = Printer(resolve_mode(output))
    try:
        with open_backend(url, token_file) as backend:
            run = backend.cancel(run_id)
    except CommandError as error:
        raise exit_with(error) from None
    if printer.mode is OutputMode.JSON:
        printer.document(run)
    else:
        printer.lines([f"run {run.id}: cancel requested; it is {run.status}"])


def trigger(
    start: Annotated[str | None, typer.Option(help="First UTC day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day (YYYY-MM-DD).")] = None,
    sources: Annotated[str | None, typer.Option(help="Comma list of source names.")] = None,
    accounts: Annotated[str | None, typer.Option(help="Comma list of account names.")] = None,
    wait: WaitOption = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Send again with the same key: the same run, never a second one."),
    ] = None,
    url: UrlOption = None,
    token_file: TokenFileOption = None,
    output: OutputOption = None,
) -> None:
    """Queue a run on a running service (--url); --wait follows it to its end.

    POST /runs (scope `trigger`) under an Idempotency-Key; the service judges the request as it
    judges any. With --wait the exit code is the run's: 0 succeeded, 1 otherwise."""
    body = {
        "start_date": start, "end_date": end, "sources": comma_list(sources),
        "accounts": comma_list(accounts),
    }  # fmt: skip
    _queue(
        {key: value for key, value in body.items() if value is not None},
        "trigger", wait, idempotency_key, url, token_file, Printer(resolve_mode(output)),
    )  # fmt: skip


def heal(
    accounts: Annotated[str | None, typer.Option(help="Comma list of account names.")] = None,
    wait: WaitOption = False,
    url: UrlOption = None,
    token_file: TokenFileOption = None,
    output: OutputOption = None,
) -> None:
    """Re-read the days not yet final: on a service with --url, else here.

    Every day of the last BACKFILL_HORIZON_DAYS that is missing, failed or provisional. On a
    service it is queued (--wait follows it); here it runs in this process. Nothing to heal
    exits 0."""
    from app.cli_foreground import heal_here

    printer = Printer(resolve_mode(output))
    if url is None:
        from app.cli import settings_or_exit

        raise typer.Exit(heal_here(settings_or_exit(), comma_list(accounts), printer))
    body: dict[str, object] = {"mode": "heal"}
    if names := comma_list(accounts):
        body["accounts"] = names
    _queue(body, "heal", wait, None, url, token_file, printer)


def _queue(
    body: dict[str, object], command: str, wait: bool, key: str | None, url: str | None,
    token_file: Path | None, printer: Printer,
) -> None:  # fmt: skip
    """POST /runs under an Idempotency-Key (a retry never queues a second run), then show it
    or follow it. A heal with nothing to do is said, not an error."""
    from app.api.runs import NOTHING_TO_HEAL
    from app.api.schemas import RunOut
    from app.cli_foreground import say_nothing_to_heal

    try:
        client = remote_client(url, token_file, command)
        with closing(RemoteBackend(client)) as backend:
            run, status = client.post("runs", RunOut, body, key=key or str(uuid.uuid4()))
            _queued(printer, run, status == 202, wait)
            if wait:
                raise typer.Exit(follow_to_end(backend, printer, run))
    except CommandError as error:
        if error.problem_type != NOTHING_TO_HEAL:
            raise exit_with(error) from None
        say_nothing_to_heal(printer, error.detail)


def _queued(printer: Printer, run: RunOut, new: bool, wait: bool) -> None:
    if printer.mode is OutputMode.JSON:
        if wait:
            printer.event("queued", run=run, new=new)
        else:
            printer.document(run)
        return
    how = "queued" if new else "already queued under this Idempotency-Key"
    lines = [f"run {run.id} {how}: {run.window_start} → {run.window_end}: {', '.join(run.sources)}"]
    if not wait:
        lines.append(f"follow it: usage-pipeline runs show {run.id} --wait")
    printer.lines(lines)
