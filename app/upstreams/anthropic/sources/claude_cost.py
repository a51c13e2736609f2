"""Cost report (`cost_report`) → residual cost rows of `fact_claude_daily_usage` and the stored
cost lines, allocated to the same day's usage through the run's `BillingJoin`."""

from __future__ import annotations

from app.orchestration.sources.assembly import Day, complete_days
from app.orchestration.sources.contract import After, Per, SourceRun
from app.upstreams.anthropic import transform
from app.upstreams.anthropic.models import CostBucket
from app.upstreams.anthropic.sources.billing import BillingJoin, buckets_fold
from app.upstreams.anthropic.sources.shared import AdminApiSource


class ClaudeCostSource(AdminApiSource):
    name = "claude_cost"
    requires = ("claude_usage",)  # cost is allocated to the usage of the same day …
    after = (After("claude_usage", Per.DAY),)  # … once that day's usage is read (BillingJoin)

    async def ingest(self, run: SourceRun) -> None:
        pages = self.client(run).cost_report(run.start, run.end, run.stats)
        join = BillingJoin.of(run)
        join.attach_cost(run)
        try:
            async for day in complete_days(run, pages, buckets_fold(CostBucket)):
                await join.offer_cost(Day(day.day, transform.cost_lines(day.value), day.suspect))
                del day
        finally:
            join.finish_cost()
        await join.cost_settled()
