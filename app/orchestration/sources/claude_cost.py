"""Cost report (`cost_report`) → residual cost rows of `fact_claude_daily_usage`, its lines
allocated to the same day's usage through the run's `BillingJoin`."""

from __future__ import annotations

from datetime import date, timedelta

from app.config import Settings
from app.ingestion.models import CostResult
from app.orchestration.sources.billing import BillingJoin, complete_days
from app.orchestration.sources.contract import Source, SourceRun
from app.processing import transform
from app.processing.cost_allocation import CostLine
from app.repositories.facts import CLAUDE_TABLE


class ClaudeCostSource(Source):
    name = "claude_cost"
    table = CLAUDE_TABLE
    requires = ("claude_usage",)  # cost is allocated to the usage of the same day
    revision_horizon = timedelta(days=2)

    def enabled(self, settings: Settings) -> bool:
        return settings.anthropic_admin_api_key is not None

    async def ingest(self, run: SourceRun) -> None:
        client = run.clients.anthropic
        assert client is not None  # enabled() holds
        join = BillingJoin.of(run)
        join.attach_cost(run)
        try:
            run.stats.start_budget(run.settings.upstream_source_time_budget_seconds)
            pages = client.cost_report(run.scope.start, run.scope.end, run.stats)

            def to_lines(day: date, results: list[CostResult]) -> list[CostLine]:
                return transform.cost_lines(results)

            async for day, lines in complete_days(run, pages, to_lines):
                await join.offer_cost(day, lines)
                del lines
        except BaseException:
            join.finish_cost(failed=True)
            raise
        join.finish_cost(failed=False)
        await join.cost_settled()
