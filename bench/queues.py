"""Our parts queue against procrastinate and pgqueuer: claiming and finishing N jobs with M
workers at once, each on its own connection, against the machine's PostgreSQL.

Not part of `make bench` (neither library is a dependency): it measured the choice recorded in
docs/performance-notes.md ("A job-queue library for the parts of runs"). To rerun:

    python -m bench.queues ours                               # the project's venv
    pip install procrastinate==3.10.0 pgqueuer==1.6.0 asyncpg  # a scratch venv, then there:
    python bench/queues.py procrastinate
    python bench/queues.py pgqueuer

Each prints JSON: the seconds to drain the queue, jobs per second, and how many jobs were
claimed more than once (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _database(name: str) -> str:
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def _drain(
    workers: int,
    claim: Callable[[int], Awaitable[Any | None]],
    finish: Callable[[int, Any], Awaitable[None]],
) -> tuple[float, list[Any]]:
    claimed: list[Any] = []

    async def worker(index: int) -> None:
        while (job := await claim(index)) is not None:
            claimed.append(job)
            await finish(index, job)

    started = time.perf_counter()
    await asyncio.gather(*(worker(index) for index in range(workers)))
    return time.perf_counter() - started, claimed


async def ours(jobs: int, workers: int) -> dict[str, Any]:
    from app.repositories import run_parts
    from app.repositories.migrations import upgrade_to_head
    from app.repositories.runs import NewRun, create_run
    from app.vocabulary import RunStatus

    dsn = await _database("aup_queue_ours")
    await asyncio.to_thread(upgrade_to_head, dsn)
    connections = [await asyncpg.connect(dsn) for _ in range(workers)]
    from datetime import date

    day = date(2026, 8, 1)
    parts = [(f"account-{n}", ["cursor"]) for n in range(jobs)]
    run = NewRun(
        day, day, ["cursor"], [p[0] for p in parts], parts, {"cursor": "fact_cursor_daily_usage"}
    )
    await create_run(connections[0], run, trigger="api")

    async def claim(index: int) -> Any:
        return await run_parts.claim_part(connections[index], f"w{index}")

    async def finish(index: int, part: Any) -> None:
        await run_parts.finish_part(
            connections[index], part.run_id, part.part_no, RunStatus.SUCCEEDED
        )

    seconds, claimed = await _drain(workers, claim, finish)
    for connection in connections:
        await connection.close()
    return _result("ours", seconds, [p.part_no for p in claimed], jobs)


async def procrastinate_queue(jobs: int, workers: int) -> dict[str, Any]:
    import procrastinate
    from procrastinate import jobs as jobs_module

    dsn = await _database("aup_queue_procrastinate")
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=dsn, max_size=workers + 2)
    )
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        await app.job_manager.batch_defer_jobs_async(
            [
                jobs_module.Job(
                    queue="parts",
                    lock=None,
                    queueing_lock=None,
                    task_name="part",
                    task_kwargs={"n": n},
                )
                for n in range(jobs)
            ]
        )
        ids = [await app.job_manager.register_worker() for _ in range(workers)]

        async def claim(index: int) -> Any:
            return await app.job_manager.fetch_job(queues=None, worker_id=ids[index])

        async def finish(index: int, job: Any) -> None:
            await app.job_manager.finish_job(
                job, status=jobs_module.Status.SUCCEEDED, delete_job=False
            )

        seconds, claimed = await _drain(workers, claim, finish)
    return _result("procrastinate", seconds, [job.id for job in claimed], jobs)


async def pgqueuer_queue(jobs: int, workers: int) -> dict[str, Any]:
    from pgqueuer.ports.repository import EntrypointExecutionParameter
    from pgqueuer.queries import Queries

    dsn = await _database("aup_queue_pgqueuer")
    connections = [await asyncpg.connect(dsn) for _ in range(workers)]
    queries = [Queries.from_asyncpg_connection(connection) for connection in connections]
    await queries[0].install()
    await queries[0].enqueue(["part"] * jobs, [None] * jobs, [0] * jobs)
    entrypoints = {"part": EntrypointExecutionParameter(concurrency_limit=0)}
    managers = [uuid.uuid4() for _ in range(workers)]

    async def claim(index: int) -> Any:
        got = await queries[index].dequeue(
            batch_size=1, entrypoints=entrypoints, queue_manager_id=managers[index],  # type: ignore[arg-type]
            global_concurrency_limit=None, heartbeat_timeout=timedelta(seconds=30),
        )  # fmt: skip
        return got[0] if got else None

    async def finish(index: int, job: Any) -> None:
        await queries[index].log_jobs([(job, "successful", None)])

    seconds, claimed = await _drain(workers, claim, finish)
    for connection in connections:
        await connection.close()
    return _result("pgqueuer", seconds, [job.id for job in claimed], jobs)


def _result(name: str, seconds: float, ids: list[Any], jobs: int) -> dict[str, Any]:
    twice = sum(count - 1 for count in Counter(ids).values() if count > 1)
    return {
        "queue": name,
        "jobs": jobs,
        "claimed": len(ids),
        "claimed_twice": twice,
        "seconds": round(seconds, 3),
        "jobs_per_second": round(len(ids) / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queue", choices=("ours", "procrastinate", "pgqueuer"))
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    measure = {"ours": ours, "procrastinate": procrastinate_queue, "pgqueuer": pgqueuer_queue}
    print(json.dumps(asyncio.run(measure[args.queue](args.jobs, args.workers))))


if __name__ == "__main__":
    main()
