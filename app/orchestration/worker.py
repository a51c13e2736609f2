"""The run worker: every worker process of every replica claims parts of queued runs and
executes them.

Runs are rows, cut into parts (one account's sources that run together). A worker claims a
part with `SELECT … FOR UPDATE SKIP LOCKED` (serialised by an advisory transaction lock), so a
part is executed exactly once by some process, and never beside a running part of another run
that reads the same account's source over overlapping days; the run finishes when its last
part does. A worker that is busy lets an idle one claim first (it waits a little before each
claim beyond its first), so one replica's processes share a run's parts and every core works.
Parts heartbeat while running (the run tracker, every second); any worker marks parts whose
heartbeat went stale `crashed`. On shutdown a worker stops claiming, asks its parts to stop at
the next page boundary, waits up to SHUTDOWN_DEADLINE_SECONDS, then cancels them (open
transactions roll back: nothing half-written) and records them `cancelled` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid

import asyncpg
import httpx

from app import metrics
from app.accounts import AccountSource
from app.config import Settings
from app.logs import get_logger
from app.orchestration.daily_job import PartSpec
from app.orchestration.parts import AccountClients, account_of, decide, end_part, execute_part
from app.orchestration.run_request import PlannedRun
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.orchestration.tracking import Cancellation
from app.repositories.database import DATABASE_ERRORS
from app.repositories.run_parts import ClaimedPart, claim_part, reap_stale_parts
from app.vocabulary import RunStatus

log = get_logger(__name__)

SHUTDOWN_REASON = "service shutting down"
# A worker already running k parts waits k × this before claiming another: an idle worker
# (another process, another replica) gets the part first.
BUSY_CLAIM_DELAY_SECONDS = 0.25

PartKey = tuple[uuid.UUID, int]


def worker_identity() -> str:
    """This process as runs record it: host:pid (a replica's worker processes add /wN)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunWorker:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        http: httpx.AsyncClient,
        settings: Settings,
        worker_id: str,
        registry: SourceRegistry = REGISTRY,
        reserved_for: str | None = None,
    ) -> None:
        self.pool = pool
        # Claim only the parts reserved for this name (a CLI run's own processes), or (None)
        # only parts nobody reserved.
        self.reserved_for = reserved_for
        self.registry = registry
        self.clients = AccountClients(http, registry)
        self.settings = settings
        self.worker_id = worker_id
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._parts: dict[PartKey, tuple[asyncio.Task[object], Cancellation]] = {}

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="run-worker")

    def wake(self) -> None:
        """A run was queued on this replica: look now instead of at the next poll."""
        self._wake.set()

    def cancel_local(self, run_id: uuid.UUID) -> None:
        """Cancel requested on this replica: no need to wait for the next heartbeat."""
        for (part_run, _), (_, cancel) in self._parts.items():
            if part_run == run_id:
                cancel.request("cancelled by request")

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.tick()
            except DATABASE_ERRORS as exc:
                log.warning("worker tick failed; retrying", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.worker_poll_seconds)
            self._wake.clear()

    async def tick(self) -> None:
        """Reap crashed parts, then claim what this process has room for."""
        async with self.pool.acquire() as connection:
            finished = await reap_stale_parts(
                connection, self.settings.run_heartbeat_timeout_seconds, decide
            )
        for run in finished:
            metrics.record_run(run.trigger, run.status, run.seconds)
            log.warning("run finished after a part's worker died", run_id=str(run.run_id))
        while not self._stopping and len(self._parts) < self.settings.worker_max_concurrent_parts:
            if self._parts:  # busy: an idle process gets the next part first
                await asyncio.sleep(BUSY_CLAIM_DELAY_SECONDS * len(self._parts))
            async with self.pool.acquire() as connection:
                claimed = await claim_part(connection, self.worker_id, self.reserved_for)
            if claimed is None:
                break
            self._launch(claimed)

    def _launch(self, claimed: ClaimedPart) -> None:
        key = (claimed.run_id, claimed.part_no)
        cancel = Cancellation()
        task: asyncio.Task[object] = asyncio.create_task(
            self._execute(claimed, cancel), name=f"run-{claimed.run_id}-{claimed.part_no}"
        )
        self._parts[key] = (task, cancel)
        task.add_done_callback(lambda _: self._finished(key))
        log.info(
            "part claimed",
            run_id=str(claimed.run_id),
            account=claimed.account,
            sources=list(claimed.sources),
            worker_id=self.worker_id,
        )

    def _spec(self, claimed: ClaimedPart) -> PartSpec:
        windows = {
            AccountSource(claimed.account, name): window for name, window in claimed.windows.items()
        }
        plan = PlannedRun(claimed.window_start, claimed.window_end, claimed.sources, windows)
        return PartSpec(
            claimed.run_id, claimed.part_no, claimed.account, claimed.sources, plan,
            claimed.trigger,
        )  # fmt: skip

    async def _execute(self, claimed: ClaimedPart, cancel: Cancellation) -> object:
        spec = self._spec(claimed)
        try:
            account = account_of(self.settings, claimed.account, self.registry)
            missing = [
                s for s in claimed.sources if s not in self.registry.configured(account.settings)
            ]
        except LookupError:
            missing = list(claimed.sources)
        if missing:
            # Queued by a replica configured differently: fail clearly, do not guess.
            reason = (
                f"account {claimed.account}: source(s) not configured on worker"
                f" {self.worker_id}: {', '.join(missing)}"
            )
            await end_part(self.pool, spec, RunStatus.FAILED, reason)
            return None
        try:
            return await execute_part(
                pool=self.pool,
                clients=self.clients.of(account),
                settings=account.settings,
                spec=spec,
                cancel=cancel,
                registry=self.registry,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("part failed to complete", run_id=str(claimed.run_id))
            try:
                await end_part(self.pool, spec, RunStatus.FAILED, "internal error")
            except DATABASE_ERRORS:
                log.warning(
                    "could not record the failure; the heartbeat reaper will",
                    run_id=str(claimed.run_id),
                )
            return None

    def _finished(self, key: PartKey) -> None:
        self._parts.pop(key, None)
        self._wake.set()  # room for the next queued part

    async def stop(self, deadline_seconds: float) -> None:
        """Stop claiming; let in-flight parts stop cleanly until the deadline, then cancel."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if not self._parts:
            return
        for _, cancel in self._parts.values():
            cancel.request(SHUTDOWN_REASON)
        tasks = [task for task, _ in self._parts.values()]
        _, pending = await asyncio.wait(tasks, timeout=deadline_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
