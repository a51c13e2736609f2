"""Executing the parts of a run, and finishing the run when its last part ends.

A run is cut into parts (`run_request.parts_of`): one account's sources that run together.
Any worker process of any replica claims a part (`app.repositories.run_parts`) and executes it
here; the CLI executes every part of its run in its own process. Whoever ends a run's last part
records the run's outcome, decided by `decide` from every part and source.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import asyncpg
import httpx
import stamina
import structlog

from app import metrics
from app.accounts import Account, AccountSource
from app.config import Settings
from app.ingestion.factory import UpstreamClients
from app.logs import get_logger
from app.orchestration.alerts import evaluate_budgets
from app.orchestration.daily_job import DailyJob, PartSpec, RunOutcome
from app.orchestration.rollups import after_writes
from app.orchestration.run_request import PlannedRun
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.orchestration.tracking import Cancellation
from app.repositories import run_parts
from app.repositories import runs as runs_repo
from app.repositories.database import DATABASE_ERRORS
from app.repositories.runs import RunRecord, SourceProgress
from app.vocabulary import RunStatus, RunTrigger, SourceStatus

log = get_logger(__name__)

OUTCOME_PERSIST_SECONDS = 300.0
_TOTALS = (
    "pages",
    "rows_fetched",
    "rows_inserted",
    "rows_updated",
    "rows_unchanged",
    "rows_deleted",
    "retries",
)


def progress_name(progress: SourceProgress) -> str:
    """A source as a run's reason names it: `source`, or `account/source` beyond `default`."""
    return AccountSource(progress.account, progress.source).label


def decide(
    parts: Sequence[run_parts.PartEnd], sources: Sequence[SourceProgress]
) -> tuple[RunStatus, str | None]:
    """A finished run's status and reason: crashed if a part's worker died, cancelled if it was
    cancelled (the cancel's reason), else succeeded, partial or failed by how many of its
    sources failed — one account's failure never hides the others' success."""
    failed = [p for p in sources if p.status in (SourceStatus.FAILED, SourceStatus.PENDING)]
    reason = "; ".join(f"{progress_name(p)}: {p.last_error or 'did not run'}" for p in failed)
    ends = {part.status: part.reason for part in reversed(parts)}  # the first part's, per status
    if RunStatus.CRASHED in ends:
        return RunStatus.CRASHED, reason or ends[RunStatus.CRASHED]
    if RunStatus.CANCELLED in ends:
        return RunStatus.CANCELLED, ends[RunStatus.CANCELLED] or "cancelled by request"
    if not failed:
        return RunStatus.SUCCEEDED, None
    return (RunStatus.FAILED if len(failed) == len(sources) else RunStatus.PARTIAL), reason


class AccountClients:
    """Each account's clients, built once per process from the account's settings: each has
    its own rate limiters, so accounts fetch side by side."""

    def __init__(self, http: httpx.AsyncClient, registry: SourceRegistry = REGISTRY) -> None:
        self._http = http
        self._registry = registry
        self._built: dict[str, UpstreamClients] = {}

    def of(self, account: Account) -> UpstreamClients:
        if account.name not in self._built:
            self._built[account.name] = self._registry.build_clients(
                account.settings, self._http, account.key_labels
            )
        return self._built[account.name]


def account_of(settings: Settings, name: str, registry: SourceRegistry = REGISTRY) -> Account:
    """The configured account `name`; LookupError when this process does not configure it."""
    for account in registry.accounts(settings):
        if account.name == name:
            return account
    raise LookupError(name)


async def execute_part(
    *,
    pool: asyncpg.Pool,
    clients: UpstreamClients,
    settings: Settings,
    spec: PartSpec,
    cancel: Cancellation | None = None,
    registry: SourceRegistry = REGISTRY,
) -> RunOutcome:
    """Execute one part to its end, record it, and finish the run if it was the last part.

    If the task itself is cancelled (a shutdown deadline passed), open transactions roll back,
    so no day is half-written, and the part is recorded as `cancelled` before re-raising."""
    cancel = cancel or Cancellation()
    structlog.contextvars.bind_contextvars(run_id=str(spec.run_id), account=spec.account)
    job = DailyJob(
        pool=pool, clients=clients, settings=settings, spec=spec, cancel=cancel, registry=registry
    )
    started = time.monotonic()
    try:
        outcome = await job.run()
    except asyncio.CancelledError:
        reason = cancel.reason if cancel.is_set() else "interrupted"
        await asyncio.shield(end_part(pool, spec, RunStatus.CANCELLED, reason))
        raise
    metrics.record_source_successes(
        (spec.account, name)
        for name, progress in outcome.sources.items()
        if progress.status == SourceStatus.SUCCEEDED
    )
    finished = await _persist_outcome(pool, spec, outcome) is not None
    await after_writes(pool, settings, spec.plan.days)  # the dashboard's rollups of the window
    if finished:
        # The run is finished (this was its last part): its days count towards the budgets.
        await evaluate_budgets(pool, settings)
    totals = {
        name: sum(getattr(progress, name) for progress in outcome.sources.values())
        for name in _TOTALS
    }
    log.info(
        "part finished",
        status=outcome.status,
        reason=outcome.reason,
        account=spec.account,
        sources=list(spec.sources),
        seconds=round(time.monotonic() - started, 3),
        **totals,
    )
    return outcome


async def end_part(pool: asyncpg.Pool, spec: PartSpec, status: RunStatus, reason: str) -> None:
    """A part stopped without its outcome (interrupted, or its execution crashed): its
    sources still going end with the reason, and the run is finished if it was the last."""
    source_status = SourceStatus.CANCELLED if status is RunStatus.CANCELLED else SourceStatus.FAILED
    async with pool.acquire() as connection:
        async with connection.transaction():
            await run_parts.end_part_sources(
                connection, spec.run_id, spec.part_no, source_status, reason
            )
            await run_parts.finish_part(connection, spec.run_id, spec.part_no, status, reason)
        finished = await run_parts.finish_run_if_done(connection, spec.run_id, decide)
    _finished(finished)
    log.warning("part ended early", run_id=str(spec.run_id), status=status, reason=reason)


def _finished(run: run_parts.FinishedRun | None) -> None:
    """The run this process finished: counted, and logged with every source's totals."""
    if run is None:
        return
    metrics.record_run(run.trigger, run.status, run.seconds)
    totals = {name: sum(getattr(p, name) for p in run.sources) for name in _TOTALS}
    log.info(
        "run finished",
        run_id=str(run.run_id),
        status=run.status,
        reason=run.reason,
        trigger=run.trigger,
        seconds=None if run.seconds is None else round(run.seconds, 3),
        **totals,
    )


async def _persist_outcome(
    pool: asyncpg.Pool, spec: PartSpec, outcome: RunOutcome
) -> run_parts.FinishedRun | None:
    """The part's final status must be recorded truthfully even if the database was briefly
    away (restart, failover): retry for a while instead of leaving the part `running`."""
    async for attempt in stamina.retry_context(
        on=DATABASE_ERRORS, attempts=None, timeout=OUTCOME_PERSIST_SECONDS, wait_max=5.0
    ):
        with attempt:
            async with pool.acquire(timeout=10) as connection:
                async with connection.transaction():
                    for progress in outcome.sources.values():
                        await runs_repo.save_progress(connection, spec.run_id, progress)
                    await run_parts.finish_part(
                        connection, spec.run_id, spec.part_no, outcome.status, outcome.reason
                    )
                finished = await run_parts.finish_run_if_done(connection, spec.run_id, decide)
    _finished(finished)
    return finished


async def execute_run(
    *,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    settings: Settings,
    run_id: uuid.UUID,
    plan: PlannedRun,
    trigger: RunTrigger = RunTrigger.CLI,
    cancel: Cancellation | None = None,
    registry: SourceRegistry = REGISTRY,
) -> RunOutcome:
    """Execute every part of a run in this process, side by side (the CLI's runs, whose parts
    were created claimed by it), and return the run's outcome."""
    cancel = cancel or Cancellation()
    clients = AccountClients(http, registry)
    async with pool.acquire() as connection:
        record = await runs_repo.get_run(connection, run_id)
    if record is None:
        raise LookupError(f"run {run_id} does not exist")
    specs = [
        PartSpec(run_id, part.part_no, part.account, part.sources, plan, trigger)
        for part in record.parts
    ]
    accounts = {spec.account: account_of(settings, spec.account, registry) for spec in specs}
    await asyncio.gather(
        *(
            execute_part(
                pool=pool,
                clients=clients.of(accounts[spec.account]),
                settings=accounts[spec.account].settings,
                spec=spec,
                cancel=cancel,
                registry=registry,
            )
            for spec in specs
        )
    )
    async with pool.acquire() as connection:
        done = await runs_repo.get_run(connection, run_id)
    assert done is not None
    return outcome_of(done)


def outcome_of(run: RunRecord) -> RunOutcome:
    """A finished run's outcome as the CLI reports it: its sources by `progress_name`."""
    return RunOutcome(run.status, run.status_reason, {progress_name(p): p for p in run.progress})


async def request_cancel(
    connection: asyncpg.Connection, run_id: uuid.UUID
) -> tuple[RunStatus, bool] | None:
    """Cancel a run (`run_parts.request_cancel`); the run ends now when no part runs."""
    return await run_parts.request_cancel(connection, run_id, decide)
