"""Messages usage report (`usage_report/messages`) → `fact_claude_daily_usage`, with the cost
report's lines allocated to it through the run's `BillingJoin`."""

from __future__ import annotations

from datetime import date

from app.ingestion.models import MessagesUsageResult
from app.orchestration.sources.billing import BillingJoin, complete_days
from app.orchestration.sources.claude_shared import AdminApiSource, claude_context
from app.orchestration.sources.contract import SourceRun
from app.processing import transform
from app.processing.facts import ClaudeFact, fold_duplicates


class ClaudeUsageSource(AdminApiSource):
    name = "claude_usage"

    async def ingest(self, run: SourceRun) -> None:
        client = self.client(run)
        join = BillingJoin.of(run)
        join.attach_usage(run)
        try:
            context = await claude_context(run)

            def to_facts(day: date, results: list[MessagesUsageResult]) -> list[ClaudeFact]:
                facts = transform.usage_facts(day, results, context.directory, context.categories)
                return fold_duplicates(facts)

            pages = client.messages_usage(run.scope.start, run.scope.end, run.stats)
            async for day, facts in complete_days(run, pages, to_facts):
                await join.offer_usage(day, facts)
                del facts
            await join.usage_done()
        except BaseException as exc:
            join.fail_usage(exc)
            raise
