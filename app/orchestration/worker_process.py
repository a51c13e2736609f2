"""The run worker in a child process, so a backfill never starves the API and its probes.

Ingestion is CPU-bound for long stretches (parsing and validating pages, encoding COPY
streams); on the API's event loop that made probes time out during a 30-day backfill. The
child runs the same `RunWorker` with its own pool and HTTP client, at a lower CPU priority,
and the parent only enqueues (rows in `ingestion_runs` are the interface). The parent wakes
the child when it queues a run, restarts it if it dies (its runs are reaped as crashed by the
heartbeat check), and on shutdown sends SIGTERM and waits for the child's graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
import uuid
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess

from app import metrics
from app.config import Settings
from app.gc_tuning import tune_garbage_collector
from app.ingestion.factory import build_http_client
from app.logs import configure_logging, get_logger
from app.metrics_directory import SHARE_METRICS_ENV, settle_metrics_directory
from app.orchestration.oneshot import worker_identity
from app.orchestration.sources.registry import REGISTRY
from app.orchestration.worker import RunWorker
from app.repositories.database import create_pool

log = get_logger(__name__)

# Below the API process (0), so the kernel serves requests first when both want the CPU.
WORKER_NICENESS = 10
_SUPERVISE_SECONDS = 1.0
_STABLE_SECONDS = 30.0  # a worker that lived this long was healthy: restart it at once
_MAX_RESTART_DELAY_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills us when the parent dies, so a crashed replica's runs stop
    heartbeating and are reaped as crashed — as if the worker had been in-process."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _child_main(
    settings: Settings, dsn: str, wake: Connection, worker_id: str, parent: int
) -> None:
    _die_with_parent(parent)
    settle_metrics_directory()  # keeps the inherited directory (SHARE_METRICS_ENV is set)
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    configure_logging(settings)
    tune_garbage_collector()
    asyncio.run(_serve(settings, dsn, wake, worker_id))


async def _serve(settings: Settings, dsn: str, wake: Connection, worker_id: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    pool = await create_pool(settings, dsn)
    http = build_http_client(settings)
    worker = RunWorker(
        pool=pool,
        clients=REGISTRY.build_clients(settings, http),
        settings=settings,
        worker_id=worker_id,
    )

    def relay() -> None:  # the parent's wake-ups, onto this loop
        # EOF/OSError: the parent closed its end; RuntimeError: our loop has already closed.
        with contextlib.suppress(EOFError, OSError, RuntimeError):
            while True:
                wake.recv_bytes()
                loop.call_soon_threadsafe(worker.wake)

    threading.Thread(target=relay, name="wake-relay", daemon=True).start()
    worker.start()
    log.info("worker process started", worker_id=worker.worker_id)
    try:
        await stop.wait()
    finally:
        await worker.stop(settings.shutdown_deadline_seconds)
        await http.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.close(), timeout=10)
        log.info("worker process stopped")


class WorkerProcess:
    """Parent-side handle with the same surface the API uses on an in-process worker."""

    def __init__(self, settings: Settings, dsn: str) -> None:
        self._settings = settings
        self._dsn = dsn
        self._context = multiprocessing.get_context("spawn")
        # A pipe, not an Event: no named semaphores for the resource tracker to report.
        self._wake_reader, self._wake = self._context.Pipe(duplex=False)
        self._process: SpawnProcess | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    def _spawn(self) -> None:
        process = self._context.Process(
            target=_child_main,
            # Runs are recorded under the replica's identity (host:pid of the API process).
            args=(self._settings, self._dsn, self._wake_reader, worker_identity(), os.getpid()),
            name="usage-pipeline-worker",
        )
        os.environ[SHARE_METRICS_ENV] = (
            "1"  # read (and dropped) by the child's settle_metrics_directory()
        )
        try:
            process.start()
        finally:
            del os.environ[SHARE_METRICS_ENV]
        self._process = process

    def start(self) -> None:
        self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="worker-supervisor")

    async def _supervise(self) -> None:
        failures = 0  # consecutive early exits: back off instead of restarting in a tight loop
        started = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(_SUPERVISE_SECONDS)
            process = self._process
            if process is None or process.is_alive() or self._stopping:
                continue
            failures = failures + 1 if time.monotonic() - started < _STABLE_SECONDS else 1
            delay = min(_MAX_RESTART_DELAY_SECONDS, 2 ** (failures - 1) - 1)
            log.error(
                "worker process exited; restarting",
                exit_code=process.exitcode,
                delay_seconds=delay,
            )
            if process.pid is not None:
                metrics.forget_process(process.pid)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            self._spawn()
            started = time.monotonic()

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # a dead child is restarted and polls anyway
            self._wake.send_bytes(b"")

    def cancel_local(self, run_id: uuid.UUID) -> None:
        """The child sees the cancel request at its next heartbeat (about a second)."""

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def stop(self, deadline_seconds: float) -> None:
        """SIGTERM: the child stops claiming, lets runs stop cleanly until the deadline, then
        cancels them; a child still alive well after that is killed."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        process = self._process
        if process is None or process.pid is None:
            return
        process.terminate()
        await asyncio.to_thread(process.join, deadline_seconds + 15)
        if process.is_alive():
            log.error("worker process did not stop in time; killing it")
            process.kill()
            await asyncio.to_thread(process.join, 5)
        metrics.forget_process(process.pid)
        self._wake.close()
        self._wake_reader.close()
