"""The usage ↔ cost coupling of the two Claude billing sources.

Cost allocation needs the messages usage and the cost report of the same day. The two sources
meet in one `BillingJoin` per run, which writes a day as soon as both halves of it have arrived
(usage rows with their allocated cost and the residual cost rows, in one transaction). Without
a cost report the usage rows are written keeping the cost an earlier run allocated. The join
belongs to the billing sources alone: the job only runs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date
from typing import Any, TypeVar

from app.ingestion.http import UpstreamError
from app.ingestion.pagination import Page
from app.orchestration.sources.claude_shared import claude_context, write_claude_day
from app.orchestration.sources.contract import SourceRun
from app.orchestration.tracking import RunCancelled, SourceTracker
from app.processing import transform
from app.processing.cost_allocation import CostLine
from app.processing.facts import ClaudeFact
from app.repositories.facts import ClaudeDayWrite

R = TypeVar("R")

USAGE_FAILED = "claude_usage failed, and cost is allocated to usage"


class BillingJoin:
    """Meets usage and cost of the same day; writes the day once both halves are there."""

    def __init__(self, *, cost_expected: bool) -> None:
        self._usage: SourceRun | None = None
        self._cost: SourceTracker | None = None
        self._pending_usage: dict[date, list[ClaudeFact]] = {}
        self._pending_cost: dict[date, list[CostLine]] = {}
        self._usage_error: BaseException | None = None
        self.cost_failed = not cost_expected  # no cost report requested: keep existing cost
        self.cost_finished = asyncio.Event()
        self.usage_finished = asyncio.Event()
        if not cost_expected:
            self.cost_finished.set()

    @classmethod
    def of(cls, run: SourceRun) -> BillingJoin:
        """The run's one join, whichever billing source asks first."""
        return run.shared(
            "billing_join",
            lambda first: cls(cost_expected="claude_cost" in first.scope.tracker.sources),
        )

    def attach_usage(self, usage: SourceRun) -> None:
        self._usage = usage

    def attach_cost(self, cost: SourceRun) -> None:
        self._cost = cost.tracker

    # --- usage side ---------------------------------------------------------------------------

    async def offer_usage(self, day: date, facts: list[ClaudeFact]) -> None:
        if self.cost_failed:
            await self._write(day, facts, None)
        elif day in self._pending_cost:
            await self._write(day, facts, self._pending_cost.pop(day))
        else:
            self._pending_usage[day] = facts

    async def usage_done(self) -> None:
        """Usage stream ended: wait for the cost stream, then settle what is left."""
        await self.cost_finished.wait()
        for day in sorted(self._pending_usage):
            cost = None if self.cost_failed else self._pending_cost.pop(day, [])
            await self._write(day, self._pending_usage.pop(day), cost)
        for day in sorted(self._pending_cost):  # cost on a day the usage report has no rows for
            await self._write(day, [], self._pending_cost.pop(day))
        self.usage_finished.set()

    def fail_usage(self, error: BaseException) -> None:
        self._usage_error = error
        self._pending_cost.clear()
        self.usage_finished.set()

    # --- cost side ----------------------------------------------------------------------------

    async def offer_cost(self, day: date, lines: list[CostLine]) -> None:
        if self._usage_error is not None:
            raise UpstreamError(
                f"cost not written: {USAGE_FAILED}", upstream="anthropic", endpoint="cost_report"
            )
        if day in self._pending_usage:
            await self._write(day, self._pending_usage.pop(day), lines)
        else:
            self._pending_cost[day] = lines

    def finish_cost(self, *, failed: bool) -> None:
        self.cost_failed = self.cost_failed or failed
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
                endpoint="cost_report",
            )

    async def _write(
        self, day: date, usage: list[ClaudeFact], lines: list[CostLine] | None
    ) -> None:
        run = self._usage
        assert run is not None  # only usage offers rows, and it attaches first
        context = await claude_context(run)
        writes = [ClaudeDayWrite("usage_report", usage, keep_existing_cost=lines is None)]
        if lines is not None:
            residuals = transform.apply_cost(
                day, usage, lines, context.categories, context.directory
            )
            writes.append(ClaudeDayWrite("cost_report", residuals))
        counts = await write_claude_day(run, day, writes)
        run.written(counts["usage_report"])
        if lines is not None and self._cost is not None:
            self._cost.written(counts["cost_report"])


async def complete_days(
    run: SourceRun, pages: AsyncIterator[Page[Any]], convert: Callable[[date, list[Any]], R]
) -> AsyncIterator[tuple[date, R]]:
    """Daily buckets (oldest first, possibly split across pages) → complete days, each
    converted before it is handed on, so a day's upstream models are freed before it is
    written while the next page downloads."""
    current: date | None = None
    results: list[Any] = []
    async for page in run.pages(pages):
        if page.restarted:
            current, results = None, []
        for bucket in page.items:
            day = bucket.starting_at.astimezone(UTC).date()
            if current is not None and day != current:
                converted = convert(current, results)
                results = []
                yield current, converted
                del converted
            current = day
            results.extend(bucket.results)
        del page
    if current is not None:
        converted = convert(current, results)
        results = []
        yield current, converted
