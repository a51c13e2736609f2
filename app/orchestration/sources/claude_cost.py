"""Cost report (`cost_report`) → residual cost rows of `fact_claude_daily_usage`, its lines
allocated to the same day's usage through the run's `BillingJoin`."""

from __future__ import annotations

from datetime import date

from app.ingestion.models import CostResult
from app.orchestration.sources.billing import BillingJoin, complete_days
from app.orchestration.sources.claude_shared import AdminApiSource
from app.orchestration.sources.contract import SourceRun
from app.processing import transform
from app.processing.cost_allocation import CostLine


class ClaudeCostSource(AdminApiSource):
    name = "claude_cost"
    requires = ("claude_usage",)  # cost is allocated to the usage of the same day

    async def ingest(self, run: SourceRun) -> None:
        pages = self.client(run).cost_report(run.scope.start, run.scope.end, run.stats)
        join = BillingJoin.of(run)
        join.attach_cost(run)

        def to_lines(day: date, results: list[CostResult]) -> list[CostLine]:
            return transform.cost_lines(results)

        try:
            async for day, lines in complete_days(run, pages, to_lines):
                await join.offer_cost(day, lines)
                del lines
        except BaseException:
            join.finish_cost(failed=True)
            raise
        join.finish_cost(failed=False)
        await join.cost_settled()
