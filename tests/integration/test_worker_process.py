"""The worker as a child process: it runs what the API queues, and a worker that dies is
replaced (its run is reaped as crashed by the heartbeat check; the next run succeeds)."""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.orchestration.worker_process import WorkerProcess
from tests.integration.conftest import AUTH, TOKEN, WINDOW, wait_for
from tests.support.services import BearerUnlessGiven, Simulator


async def test_a_killed_worker_process_is_replaced_and_runs_go_on(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    settings = simulator.settings(
        database_url=database_dsn, worker_poll_seconds=0.2, worker_process=True
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        worker = app.state.runtime.worker
        assert isinstance(worker, WorkerProcess)
        first = worker.pid
        assert first is not None and first != os.getpid()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            auth=BearerUnlessGiven(TOKEN), transport=transport, base_url="http://service"
        ) as client:
            os.kill(first, signal.SIGKILL)
            for _ in range(100):
                if worker.pid not in (None, first):
                    break
                await asyncio.sleep(0.1)
            assert worker.pid not in (None, first)
            response = await client.post("/runs", json=WINDOW, headers=AUTH)
            assert response.status_code == 202, response.text
            run = await wait_for(client, response.headers["location"])
    assert run["status"] == "succeeded"
    # Recorded as this replica's run, by one of its worker processes.
    assert run["worker_id"].rpartition("/")[0].endswith(f":{os.getpid()}")
