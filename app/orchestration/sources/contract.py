"""The contract every source implements, and what a source sees of the run it is part of.

A source is one upstream feed written to one fact table. Its module says:
- its `name` (the word runs, metrics and the CLI use), its `table`, and the sources it
  `requires` in the same run (cost is allocated to the usage of the same day);
- whether the settings `enable` it (its credentials are present);
- its `revision_horizon`: how long after a day the upstream may still change it;
- how it ingests a window, in `ingest`: it fetches the window as a stream of pages through its
  client (`run.pages` counts them and stops at a page boundary once the run is cancelled),
  turns each page into facts with pure functions of `app.processing`, and writes each
  complete (source, day) through its repository writer in one transaction.

Sources come in upstream packages (`app/upstreams/<name>/`), each described by one `Upstream`:
its client, its sources, its endpoints and its simulator routes. The job, the API, the CLI and
the metrics know them only through the registry (`app.orchestration.sources.registry`); adding an
upstream is its package and one line there (docs/architecture.md, "Adding a source").
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sized
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import ClassVar, Generic, Protocol, TypeVar, cast

import asyncpg

from app.accounts import DEFAULT_ACCOUNT, AccountKind, AccountSource
from app.config import Settings
from app.ingestion.factory import ClientKey, UpstreamClients
from app.ingestion.http import RequestStats
from app.ingestion.pagination import prefetched
from app.orchestration.sources.shrink import ShrinkGuard
from app.orchestration.tracking import RunTracker, SourceTracker
from app.repositories.day_writer import WriteCounts

T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True)
class Detail(Generic[T]):
    """A measure a source records in its run's `details` (stored as JSON, shown by GET /runs,
    its numbers exported as metrics), typed by the key that names it: the module that measures
    it declares the key and its type."""

    name: str


# The expiry of the keys a source read with ({setting: ISO time}): GET /sources lists them, and
# one this close to expiry is a warning in every run.
KEY_EXPIRY: Detail[dict[str, str]] = Detail("key_expiry")
KEY_EXPIRY_WARNING = timedelta(days=14)


class Counted(Protocol):
    """What a run counts of a page (`SourceRun.pages`): its items, and whether it continues
    the upstream page before."""

    @property
    def items(self) -> Sized: ...

    @property
    def continued(self) -> bool: ...


P = TypeVar("P", bound=Counted)


@dataclass(frozen=True, eq=False)
class Shared(Generic[T]):
    """A run-scoped object's key, declared by the module that owns the object: one per run,
    built by the first source that asks (`SourceRun.shared`), typed for every reader."""

    name: str


@dataclass
class RunScope:
    """What every source of one part of a run (sources of one account) shares: the pool, the
    account's clients and settings, the part's tracker, and objects built once by whichever
    source asks first (`SourceRun.shared`)."""

    pool: asyncpg.Pool
    clients: UpstreamClients
    settings: Settings
    tracker: RunTracker
    account: str = DEFAULT_ACCOUNT  # whose sources these are (the part of the run)
    objects: dict[object, object] = field(default_factory=dict)  # by `Shared` key
    days_of: dict[str, list[date]] = field(default_factory=dict)  # each source's own days

    @property
    def run_id(self) -> uuid.UUID:
        return self.tracker.run_id

    async def close(self) -> None:
        """End shared tasks no source awaits any more (every source that wanted one failed or
        was cancelled): they must not outlive the run and its clients."""
        tasks = [item for item in self.objects.values() if isinstance(item, asyncio.Future)]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: its sources already reported it


class SourceRun:
    """One source's view of a run: the shared scope plus its own days (the run's window, or the
    sub-window a heal run gives it), progress and request stats."""

    def __init__(self, scope: RunScope, tracker: SourceTracker, days: list[date]) -> None:
        self.scope = scope
        self.tracker = tracker
        self.days = days
        self.fetched: dict[date, WriteCounts] = {}  # days written, for the ledger
        self.writes: dict[date, int] = {}  # how many writes each day had (feeds of a source)
        self.freshness: dict[date, datetime] = {}  # the upstream's data_refreshed_at, by day
        # The one rule for days that come back empty (`app.orchestration.sources.shrink`).
        self.shrink = ShrinkGuard.of(scope.settings)

    @property
    def stats(self) -> RequestStats:
        return self.tracker.stats

    @property
    def account(self) -> str:
        """The account this source reads: every row and ledger entry it writes is its."""
        return self.scope.account

    @property
    def part(self) -> AccountSource:
        return AccountSource(self.scope.account, self.tracker.progress.source)

    @property
    def settings(self) -> Settings:
        return self.scope.settings

    @property
    def clients(self) -> UpstreamClients:
        return self.scope.clients

    @property
    def pool(self) -> asyncpg.Pool:
        return self.scope.pool

    @property
    def start(self) -> date:
        return self.days[0]

    @property
    def end(self) -> date:
        return self.days[-1]

    async def pages(self, pages: AsyncIterator[P]) -> AsyncIterator[P]:
        """Count pages and stop at a page boundary once the run is cancelled; the next page is
        fetched while this one is processed."""
        async for page in prefetched(pages):
            self.scope.tracker.check_cancelled()
            self.tracker.page(len(page.items), continued=page.continued)
            yield page
            del page

    def written(self, counts: WriteCounts, day: date) -> None:
        """A day written (or found unchanged): counted, and remembered for the ledger unless
        the shrink guard kept it."""
        self.tracker.written(counts)
        if counts.kept:
            self.tracker.kept(day)
        else:
            self.writes[day] = self.writes.get(day, 0) + 1
            done = self.fetched.setdefault(day, WriteCounts())
            done += counts
            done.digest = counts.digest or done.digest

    def skipped(self, reason: str, rows: int = 1) -> None:
        """Rows the table cannot take (a null email, …), counted per reason."""
        self.tracker.skipped(reason, rows)

    def warn(self, message: str) -> None:
        self.tracker.warn(message)

    def record(self, detail: Detail[T], value: T) -> None:
        """A measure of this source in this run (see `Detail`)."""
        self.tracker.progress.details[detail.name] = value

    def shared(self, key: Shared[T], build: Callable[[SourceRun], T]) -> T:
        """The run's one object under `key`, built by the first source that asks."""
        objects = self.scope.objects
        if key not in objects:
            objects[key] = build(self)
        return cast(T, objects[key])

    def client(self, key: ClientKey[C]) -> C:
        """This upstream's client; a source is in a run only when `enabled` says its
        credentials are set, so a missing client is a bug, said with the client's name."""
        client = self.clients.get(key)
        if client is None:
            raise RuntimeError(f"the {key.name} client is not configured")
        return client


def days_between(start: date, end: date) -> list[date]:
    """Every UTC day from `start` to `end`, both included."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


class Per(StrEnum):
    """How far a source waits on another of the same run: each day, or the whole window."""

    DAY = "day"
    WINDOW = "window"


@dataclass(frozen=True)
class After:
    """When `source` is in the same run, this one reads a day (or, per window, anything) only
    once `source` has read it; without it in the run, nothing is waited for."""

    source: str
    per: Per


class Source(ABC):
    """One upstream feed of a fact table (see the module docstring)."""

    name: ClassVar[str]
    table: ClassVar[str]
    revision_horizon: ClassVar[timedelta]
    # Sources a run of this one brings along (cost is allocated to the usage of its day) …
    requires: ClassVar[tuple[str, ...]] = ()
    # … and sources it waits on when they are in the run (checked at registration).
    after: ClassVar[tuple[After, ...]] = ()

    @abstractmethod
    def enabled(self, settings: Settings) -> bool:
        """Whether the settings configure this source (its credentials are present)."""

    def units(self, clients: UpstreamClients, days: int) -> int:
        """How many day-steps a window of `days` takes (the run's `days_total`)."""
        return days

    @abstractmethod
    async def ingest(self, run: SourceRun) -> None:
        """Fetch the window, turn pages into facts, write every complete day."""


@dataclass(frozen=True)
class Upstream:
    """Everything the service needs to know of one upstream, declared by its package: the
    client it builds, the sources it offers, the endpoints its requests are counted under, the
    fact labels its rows carry, and the module whose `router` the simulator mounts."""

    name: str
    client: ClientKey[object]
    sources: tuple[Source, ...]
    endpoints: type[StrEnum]
    labels: type[StrEnum]
    simulator: str | None = None
    # What an account of this upstream can be in ACCOUNTS_FILE (app.accounts).
    account_kinds: tuple[AccountKind, ...] = ()
    # The `tool` its rows carry in the cross-tool view (default: its name).
    tool: str | None = None

    @property
    def tool_name(self) -> str:
        return self.tool or self.name
