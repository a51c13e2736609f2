"""The usage ↔ cost coupling of the two Claude billing sources.

Cost allocation needs the messages usage and the cost report of the same day. The two sources
meet in one `BillingJoin` per run, which writes each billing day once, from complete usage and
complete cost, in one transaction: the usage rows with their allocated cost, the residual cost
rows, and the day's cost lines as received (`claude_cost_lines`).

Allocation is a pure function of (usage rows, cost lines), so every path conserves the cost
report: a usage day whose cost this run did not deliver (a usage-only run, or a cost report that
failed part-way) is allocated with the lines stored for it, never wiped or zeroed. When usage
fails, its pending cost days are dropped unwritten (the stored lines still describe the stored
rows) and the cost source fails too, saying why. The join belongs to the billing sources alone:
the job only runs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, date
from typing import TypeVar

from app.ingestion.errors import UpstreamError
from app.orchestration.sources.assembly import Day, DayFold
from app.orchestration.sources.contract import Shared, SourceRun
from app.orchestration.tracking import RunCancelled
from app.processing.cost_allocation import CostLine
from app.repositories import cost_lines
from app.repositories.day_writer import lock_day
from app.repositories.facts import ClaudeDayWrite, day_has_rows, replace_claude_days
from app.upstreams.anthropic import transform
from app.upstreams.anthropic.client import AnthropicEndpoint
from app.upstreams.anthropic.facts import ClaudeFact, ClaudeLabel, fold_duplicates
from app.upstreams.anthropic.models import Bucket
from app.upstreams.anthropic.sources.shared import claude_context

R = TypeVar("R")  # a result of a report's bucket
USAGE_FAILED = "claude_usage failed, and cost is allocated to usage"


def buckets_fold(kind: type[Bucket[R]]) -> DayFold[Bucket[R], list[R]]:
    """A report's daily buckets (of `kind`) → the day's results (a big day spans pages)."""

    def add(results: list[R], buckets: Iterable[Bucket[R]]) -> None:
        for bucket in buckets:
            results.extend(bucket.results)

    def day_of(bucket: Bucket[R]) -> date:
        return bucket.starting_at.astimezone(UTC).date()

    return DayFold(day_of, list, add, lambda results: not results)


class BillingJoin:
    """Meets usage and cost of the same day; writes the day once both halves are settled."""

    def __init__(self, *, cost_expected: bool) -> None:
        self._usage: SourceRun | None = None
        self._cost: SourceRun | None = None
        self._pending_usage: dict[date, Day[list[ClaudeFact]]] = {}
        self._pending_cost: dict[date, Day[list[CostLine]]] = {}
        self._usage_error: BaseException | None = None
        self.cost_finished = asyncio.Event()
        self.usage_finished = asyncio.Event()
        if not cost_expected:
            self.cost_finished.set()  # a usage-only run: every day uses its stored lines

    @classmethod
    def of(cls, run: SourceRun) -> BillingJoin:
        """The run's one join, whichever billing source asks first."""
        return run.shared(
            BILLING_JOIN,
            lambda first: cls(cost_expected="claude_cost" in first.scope.tracker.sources),
        )

    def attach_usage(self, usage: SourceRun) -> None:
        self._usage = usage

    def attach_cost(self, cost: SourceRun) -> None:
        self._cost = cost

    # --- usage side ---------------------------------------------------------------------------

    async def offer_usage(self, day: Day[list[ClaudeFact]]) -> None:
        if day.day in self._pending_cost or self.cost_finished.is_set():
            await self._write(day, self._pending_cost.pop(day.day, None))
        else:
            self._pending_usage[day.day] = day

    async def usage_done(self) -> None:
        """Usage stream ended: wait for the cost stream, then settle what is left."""
        await self.cost_finished.wait()
        for day in sorted(self._pending_usage):
            await self._write(self._pending_usage.pop(day), self._pending_cost.pop(day, None))
        if self._pending_cost and self._usage is not None:
            days = ", ".join(str(day) for day in sorted(self._pending_cost))
            self._usage.warn(f"cost report days without a usage day, not written: {days}")
        self._pending_cost.clear()
        self.usage_finished.set()

    def fail_usage(self, error: BaseException) -> None:
        self._usage_error = error
        self._pending_cost.clear()
        self.usage_finished.set()

    # --- cost side ----------------------------------------------------------------------------

    async def offer_cost(self, day: Day[list[CostLine]]) -> None:
        if self._usage_error is not None:
            raise UpstreamError(
                f"cost not written: {USAGE_FAILED}",
                upstream="anthropic",
                endpoint=AnthropicEndpoint.COST_REPORT,
            )
        if day.day in self._pending_usage:
            await self._write(self._pending_usage.pop(day.day), day)
        else:
            self._pending_cost[day.day] = day

    def finish_cost(self) -> None:
        """The cost stream ended, whole or not: usage days not delivered use stored lines."""
        self.cost_finished.set()

    async def cost_settled(self) -> None:
        """Cost is written with usage: it is complete only once usage is. A usage source that
        was cancelled cancels cost too; one that failed fails it."""
        await self.usage_finished.wait()
        if isinstance(self._usage_error, RunCancelled):
            raise RunCancelled(str(self._usage_error))
        if self._usage_error is not None:
            raise UpstreamError(
                f"cost not fully written: {USAGE_FAILED}",
                upstream="anthropic",
                endpoint=AnthropicEndpoint.COST_REPORT,
            )

    async def _write(self, day: Day[list[ClaudeFact]], cost: Day[list[CostLine]] | None) -> None:
        """One billing day in one transaction; `cost` None: the lines stored for the day.

        The shrink guard keeps only what the day holds: an empty (suspect) usage day that holds
        rows, or an empty (suspect) cost report of a day that holds lines, is kept as it was.
        The same empty answer for a day that holds nothing is a quiet day, written as such."""
        run = self._usage
        assert run is not None  # only usage offers rows, and it attaches first
        context = await claude_context(run)
        usage = fold_duplicates(day.value)
        guard = run.shrink.applies
        fresh = None if cost is None else cost.value
        async with run.pool.acquire() as connection, connection.transaction():
            await lock_day(connection, f"billing:{run.account}:{day.day.isoformat()}")
            if (
                guard
                and day.suspect
                and await day_has_rows(connection, run.account, ClaudeLabel.USAGE_REPORT, day.day)
            ):
                run.tracker.kept(day.day)
                return
            stored = None
            if fresh is None or (guard and cost is not None and cost.suspect):
                stored = await cost_lines.stored_lines(connection, run.account, day.day)
            if fresh is not None and stored:  # an empty report where lines are held: kept
                assert self._cost is not None
                self._cost.tracker.kept(day.day)
                fresh = None
            fresh_or_stored = (stored or []) if fresh is None else fresh
            residuals = transform.apply_cost(
                day.day, usage, fresh_or_stored, context.categories, context.directory
            )
            writes = [
                ClaudeDayWrite(ClaudeLabel.USAGE_REPORT, usage),
                ClaudeDayWrite(ClaudeLabel.COST_REPORT, fold_duplicates(residuals)),
            ]
            counts = await replace_claude_days(
                connection, run.account, day.day, writes, run.scope.run_id
            )
            if fresh is not None:
                await cost_lines.store_lines(
                    connection, run.account, day.day, fresh, run.scope.run_id
                )
        run.written(counts[ClaudeLabel.USAGE_REPORT], day.day)
        if self._cost is None:
            return
        if fresh is not None:
            self._cost.written(counts[ClaudeLabel.COST_REPORT], day.day)
        else:  # written from stored lines: counted, but not fetched by this run
            self._cost.tracker.written(counts[ClaudeLabel.COST_REPORT])


BILLING_JOIN: Shared[BillingJoin] = Shared("billing_join")
