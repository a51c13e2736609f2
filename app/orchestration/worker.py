"""The run worker: every replica claims queued runs and executes them.

Runs are rows. A replica claims with `SELECT … FOR UPDATE SKIP LOCKED` (serialised by an
advisory transaction lock), so a run is executed exactly once by some replica, and never
beside a running run of an overlapping window and source. It heartbeats while running (the
run tracker, every second); any replica marks runs whose heartbeat went stale `crashed`.
On shutdown it stops claiming, asks its runs to stop at the next page boundary, waits up to
SHUTDOWN_DEADLINE_SECONDS, then cancels them (open transactions roll back: nothing
half-written) and records them `cancelled` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg

from app import metrics
from app.config import Settings
from app.ingestion.factory import UpstreamClients
from app.logs import get_logger
from app.orchestration.daily_job import RunSpec, execute_run
from app.orchestration.run_request import PlannedRun
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.orchestration.tracking import Cancellation
from app.repositories import runs as runs_repo
from app.repositories.database import DATABASE_ERRORS
from app.repositories.run_queue import ClaimedRun, claim_next
from app.vocabulary import RunStatus

log = get_logger(__name__)

SHUTDOWN_REASON = "service shutting down"


class RunWorker:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        clients: UpstreamClients,
        settings: Settings,
        worker_id: str,
        registry: SourceRegistry = REGISTRY,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.clients = clients
        self.settings = settings
        self.worker_id = worker_id
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._runs: dict[uuid.UUID, tuple[asyncio.Task[object], Cancellation]] = {}

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="run-worker")

    def wake(self) -> None:
        """A run was queued on this replica: look now instead of at the next poll."""
        self._wake.set()

    def cancel_local(self, run_id: uuid.UUID) -> None:
        """Cancel requested on this replica: no need to wait for the next heartbeat."""
        if run_id in self._runs:
            self._runs[run_id][1].request("cancelled by request")

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
        """Reap crashed runs, then claim what this replica has room for."""
        async with self.pool.acquire() as connection:
            crashed = await runs_repo.mark_stale_runs_crashed(
                connection, self.settings.run_heartbeat_timeout_seconds
            )
            for run_id, trigger in crashed:
                metrics.record_run(trigger, RunStatus.CRASHED, None)
                log.warning("run marked crashed (heartbeat lost)", run_id=str(run_id))
            while not self._stopping and len(self._runs) < self.settings.worker_max_concurrent_runs:
                claimed = await claim_next(connection, self.worker_id)
                if claimed is None:
                    break
                self._launch(claimed)

    def _launch(self, claimed: ClaimedRun) -> None:
        run_id = claimed.id
        cancel = Cancellation()
        task: asyncio.Task[object] = asyncio.create_task(
            self._execute(claimed, cancel), name=f"run-{run_id}"
        )
        self._runs[run_id] = (task, cancel)
        task.add_done_callback(lambda _: self._finished(run_id))
        log.info("run claimed", run_id=str(run_id), worker_id=self.worker_id)

    async def _execute(self, claimed: ClaimedRun, cancel: Cancellation) -> object:
        configured = self.registry.configured(self.settings)
        unavailable = [s for s in claimed.sources if s not in configured]
        if unavailable:
            # Queued by a replica configured differently: fail clearly, do not guess.
            reason = (
                f"source(s) not configured on worker {self.worker_id}: {', '.join(unavailable)}"
            )
            async with self.pool.acquire() as connection:
                await runs_repo.finish_run(connection, claimed.id, RunStatus.FAILED, reason)
            return None
        sources = tuple(s for s in configured if s in claimed.sources)
        plan = PlannedRun(
            claimed.window_start, claimed.window_end, sources, claimed.source_windows or {}
        )
        spec = RunSpec(claimed.id, plan, claimed.trigger)
        try:
            return await execute_run(
                pool=self.pool,
                clients=self.clients,
                settings=self.settings,
                spec=spec,
                worker_id=self.worker_id,
                cancel=cancel,
                registry=self.registry,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run failed to complete", run_id=str(claimed.id))
            try:
                async with self.pool.acquire() as connection:
                    await runs_repo.finish_run(
                        connection, claimed.id, RunStatus.FAILED, "internal error"
                    )
            except DATABASE_ERRORS:
                log.warning(
                    "could not record the failure; the heartbeat reaper will",
                    run_id=str(claimed.id),
                )
            return None

    def _finished(self, run_id: uuid.UUID) -> None:
        self._runs.pop(run_id, None)
        self._wake.set()  # room for the next queued run

    async def stop(self, deadline_seconds: float) -> None:
        """Stop claiming; let in-flight runs stop cleanly until the deadline, then cancel."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if not self._runs:
            return
        for _, cancel in self._runs.values():
            cancel.request(SHUTDOWN_REASON)
        tasks = [task for task, _ in self._runs.values()]
        _, pending = await asyncio.wait(tasks, timeout=deadline_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
