"""Where an operator command gets its answers: this machine's database, or a running service.

Both give the API's models (`RunList`, `RunOut`, `CoverageOut`, `SourceList`): the local one
from the same functions the API's routes call (their `ProblemError` becomes the exit code of
its status), the remote one from the API itself. A command never knows which it has.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol, TypeVar

from app.cli_errors import CommandError, ExitCode, database_errors, exit_code_of_status
from app.cli_remote import ServiceClient
from app.config import Settings
from app.vocabulary import ACTIVE_RUN_STATUSES, RunStatus, RunTrigger

if TYPE_CHECKING:  # the API's modules import the metrics: not before the CLI settles them
    import asyncpg

    from app.api.coverage import CoverageOut
    from app.api.schemas import RunList, RunOut
    from app.api.sources import SourceList
    from app.cli_output import RunView

T = TypeVar("T")


@dataclass(frozen=True)
class RunsQuery:
    """Which runs to list (GET /runs's parameters)."""

    status: RunStatus | None = None
    trigger: RunTrigger | None = None
    limit: int = 20
    before: uuid.UUID | None = None


class Backend(Protocol):
    """What `runs`, `coverage` and `sources` ask, wherever the answers come from."""

    def runs(self, query: RunsQuery) -> RunList: ...

    def run(self, run_id: uuid.UUID, *, patient: bool = False) -> RunOut: ...

    def cancel(self, run_id: uuid.UUID) -> RunOut: ...

    def coverage(
        self, sources: Sequence[str], accounts: Sequence[str], start: date | None, end: date | None
    ) -> CoverageOut: ...  # fmt: skip

    def sources(self) -> SourceList: ...

    def close(self) -> None: ...


class LocalBackend:
    """The database of this machine's settings, on one connection for the command's life (so a
    followed run does not start and stop an embedded server every poll)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.Runner()
        self._connection: asyncpg.Connection | None = None

    def _call(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def connected() -> T:
            if self._connection is None:
                import asyncpg

                from app.repositories.database import resolve_dsn

                dsn = await asyncio.to_thread(resolve_dsn, self.settings)
                self._connection = await asyncpg.connect(dsn)
            return await work(self._connection)

        from app.api.problems import ProblemError

        try:
            with database_errors():
                return self._loop.run(connected())
        except ProblemError as exc:
            raise CommandError(exc.detail, exit_code_of_status(exc.status)) from None

    def runs(self, query: RunsQuery) -> RunList:
        from app.api.runs import runs_page

        return self._call(
            lambda connection: runs_page(
                connection, query.status, query.trigger, query.limit, query.before
            )
        )

    def run(self, run_id: uuid.UUID, *, patient: bool = False) -> RunOut:
        from app.api.runs import one_run

        return self._call(lambda connection: one_run(connection, run_id))

    def cancel(self, run_id: uuid.UUID) -> RunOut:
        from app.api.runs import cancel_as

        # Whoever reaches the database is its administrator.
        return self._call(lambda connection: cancel_as(connection, run_id, "cli", admin=True))

    def coverage(
        self, sources: Sequence[str], accounts: Sequence[str], start: date | None, end: date | None
    ) -> CoverageOut:  # fmt: skip
        from app.api.coverage import coverage_answer

        return self._call(
            lambda connection: coverage_answer(
                connection, self.settings, sources, accounts, start, end
            )
        )

    def sources(self) -> SourceList:
        from app.api.sources import sources_answer

        return self._call(lambda connection: sources_answer(connection, self.settings))

    def close(self) -> None:
        from app.repositories.embedded import release_embedded

        if self._connection is not None:
            self._loop.run(self._connection.close())
        self._loop.close()
        release_embedded()


class RemoteBackend:
    """A running service's API."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def runs(self, query: RunsQuery) -> RunList:
        from app.api.schemas import RunList

        return self.client.get("runs", RunList, vars(query))

    def run(self, run_id: uuid.UUID, *, patient: bool = False) -> RunOut:
        from app.api.schemas import RunOut

        return self.client.get(f"runs/{run_id}", RunOut, patient=patient)

    def cancel(self, run_id: uuid.UUID) -> RunOut:
        from app.api.schemas import RunOut

        return self.client.post(f"runs/{run_id}/cancel", RunOut)[0]

    def coverage(
        self, sources: Sequence[str], accounts: Sequence[str], start: date | None, end: date | None
    ) -> CoverageOut:  # fmt: skip
        from app.api.coverage import CoverageOut

        params = {"source": list(sources), "account": list(accounts), "start": start, "end": end}
        return self.client.get("coverage", CoverageOut, params)

    def sources(self) -> SourceList:
        from app.api.sources import SourceList

        return self.client.get("sources", SourceList)

    def close(self) -> None:
        self.client.close()


def follow(backend: Backend, run: RunOut, view: RunView, poll_seconds: float = 1.0) -> RunOut:
    """Poll the run until it ends, showing each change; Ctrl-C stops following, not the run."""
    try:
        while run.status in ACTIVE_RUN_STATUSES:
            view.update(run)
            time.sleep(poll_seconds)
            run = backend.run(run.id, patient=True)
    except KeyboardInterrupt:
        raise CommandError(
            f"stopped following run {run.id} ({run.status}); it goes on: follow it again with"
            f" `usage-pipeline runs show {run.id} --wait`",
            ExitCode.INTERRUPTED,
        ) from None
    return run
