"""The run workers in child processes, one per core by default, so a backfill never starves
the API and its probes and uses every core.

Ingestion is CPU-bound for long stretches (parsing and validating pages, encoding COPY
streams); on the API's event loop that made probes time out during a 30-day backfill, and in
one process a run's sources shared one core. Each child runs a `RunWorker` with its own pool
and HTTP client, at a lower CPU priority, claiming parts of runs (rows in `ingestion_runs` and
`ingestion_run_parts` are the interface); the parent only enqueues. The parent wakes the
children when it queues a run, restarts one that dies (its parts are reaped as crashed by the
heartbeat check), and on shutdown sends SIGTERM and waits for their graceful stop.
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
from pathlib import Path

from app import metrics
from app.config import Settings
from app.gc_tuning import tune_garbage_collector
from app.ingestion.factory import build_http_client
from app.logs import configure_logging, get_logger
from app.metrics_directory import SHARE_METRICS_ENV, settle_metrics_directory
from app.orchestration.sources.registry import REGISTRY
from app.orchestration.worker import RunWorker, worker_identity
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
    settings: Settings,
    dsn: str,
    wake: Connection,
    worker_id: str,
    parent: int,
    reserved_for: str | None,
) -> None:  # one worker process
    _die_with_parent(parent)
    settle_metrics_directory()  # keeps the inherited directory (SHARE_METRICS_ENV is set)
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    configure_logging(settings)
    REGISTRY.accounts(settings)  # the account file's secrets are masked in this process too
    tune_garbage_collector()
    asyncio.run(_serve(settings, dsn, wake, worker_id, reserved_for))


async def _serve(
    settings: Settings, dsn: str, wake: Connection, worker_id: str, reserved_for: str | None
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    pool = await create_pool(settings, dsn)
    http = build_http_client(settings)
    worker = RunWorker(
        pool=pool, http=http, settings=settings, worker_id=worker_id, reserved_for=reserved_for
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


def worker_count(settings: Settings) -> int:
    """WORKER_PROCESSES, or one per CPU this process may use: the CPUs it may run on, capped
    by its cgroup's CPU quota (a pod limited to 2 CPUs on a 64-core node gets 2)."""
    if settings.worker_processes:
        return settings.worker_processes
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(cpus, quota) if quota is not None else cpus)


def _cgroup_cpus(path: str = "/sys/fs/cgroup/cpu.max") -> int | None:
    """CPUs the cgroup (v2) quota allows, rounded up; None without a quota."""
    try:
        quota, period = Path(path).read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, -(-int(quota) // int(period)))


class _Child:
    """One worker process, restarted by the supervisor when it dies."""

    def __init__(self, owner: WorkerProcess, index: int) -> None:
        self._owner = owner
        self.index = index
        self.wake_reader, self.wake = owner.context.Pipe(duplex=False)
        self.process: SpawnProcess | None = None
        self.failures = 0  # consecutive early exits: back off instead of restarting in a loop
        self.started = time.monotonic()
        self.restart_at: float | None = None

    def spawn(self) -> None:
        owner = self._owner
        process = owner.context.Process(
            target=_child_main,
            # Parts are recorded under the replica's identity (host:pid of the API process)
            # and the worker's number.
            args=(
                owner.settings, owner.dsn, self.wake_reader,
                f"{worker_identity()}/w{self.index}", os.getpid(), owner.reserved_for,
            ),
            name=f"usage-pipeline-worker-{self.index}",
        )  # fmt: skip
        os.environ[SHARE_METRICS_ENV] = "1"  # read (and dropped) by the child
        try:
            process.start()
        finally:
            del os.environ[SHARE_METRICS_ENV]
        self.process = process
        self.started = time.monotonic()
        self.restart_at = None

    def check(self) -> None:
        """Restart a dead child, after a delay that grows while it keeps dying early."""
        process = self.process
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.spawn()
            return
        if process is None or process.is_alive():
            return
        self.failures = self.failures + 1 if now - self.started < _STABLE_SECONDS else 1
        delay = min(_MAX_RESTART_DELAY_SECONDS, 2 ** (self.failures - 1) - 1)
        log.error(
            "worker process exited; restarting",
            worker=self.index,
            exit_code=process.exitcode,
            delay_seconds=delay,
        )
        if process.pid is not None:
            metrics.forget_process(process.pid)
        self.restart_at = now + delay

    async def stop(self, deadline_seconds: float) -> None:
        process = self.process
        if process is not None and process.pid is not None:
            process.terminate()
            await asyncio.to_thread(process.join, deadline_seconds + 15)
            if process.is_alive():
                log.error("worker process did not stop in time; killing it", worker=self.index)
                process.kill()
                await asyncio.to_thread(process.join, 5)
            metrics.forget_process(process.pid)
        self.wake.close()
        self.wake_reader.close()


class WorkerProcess:
    """Parent-side handle of the worker processes, with the surface the API uses on an
    in-process worker."""

    def __init__(
        self,
        settings: Settings,
        dsn: str,
        reserved_for: str | None = None,
        processes: int | None = None,
    ) -> None:
        self.settings = settings
        self.dsn = dsn
        self.reserved_for = reserved_for  # a CLI run's: only its reserved parts
        self.context = multiprocessing.get_context("spawn")
        # Pipes, not Events: no named semaphores for the resource tracker to report.
        count = processes or worker_count(settings)
        self._children = [_Child(self, index) for index in range(count)]
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        for child in self._children:
            child.spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="worker-supervisor")

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(_SUPERVISE_SECONDS)
            if not self._stopping:
                for child in self._children:
                    child.check()

    def wake(self) -> None:
        for child in self._children:
            with contextlib.suppress(OSError):  # a dead child is restarted and polls anyway
                child.wake.send_bytes(b"")

    def cancel_local(self, run_id: uuid.UUID) -> None:
        """The children see the cancel request at their next heartbeat (about a second)."""

    @property
    def pids(self) -> list[int]:
        return [
            child.process.pid
            for child in self._children
            if child.process is not None and child.process.pid is not None
        ]

    @property
    def pid(self) -> int | None:
        """The first worker process's (tests that kill "the worker")."""
        pids = self.pids
        return pids[0] if pids else None

    async def stop(self, deadline_seconds: float) -> None:
        """SIGTERM: each child stops claiming, lets parts stop cleanly until the deadline,
        then cancels them; a child still alive well after that is killed."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        await asyncio.gather(*(child.stop(deadline_seconds) for child in self._children))
