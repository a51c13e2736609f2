"""Messages usage report (`usage_report/messages`) → `fact_claude_daily_usage`, with the cost
report's lines allocated to it through the run's `BillingJoin`."""

from __future__ import annotations

from datetime import date, timedelta

from app.config import Settings
from app.ingestion.models import MessagesUsageResult
from app.orchestration.sources.billing import BillingJoin, complete_days
from app.orchestration.sources.claude_shared import claude_context
from app.orchestration.sources.contract import Source, SourceRun
from app.processing import transform
from app.processing.facts import ClaudeFact, fold_duplicates
from app.repositories.facts import CLAUDE_TABLE


class ClaudeUsageSource(Source):
    name = "claude_usage"
    table = CLAUDE_TABLE
    # ~5 min lag, restatement policy undocumented: the reference re-pulls the trailing 1-2 days.
    revision_horizon = timedelta(days=2)

    def enabled(self, settings: Settings) -> bool:
        return settings.anthropic_admin_api_key is not None

    async def ingest(self, run: SourceRun) -> None:
        client = run.clients.anthropic
        assert client is not None  # enabled() holds
        join = BillingJoin.of(run)
        join.attach_usage(run)
        try:
            run.stats.start_budget(run.settings.upstream_source_time_budget_seconds)
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
