"""Claude Code analytics (`usage_report/claude_code`) → `fact_claude_daily_usage`, day by day."""

from __future__ import annotations

from datetime import timedelta

from app.config import Settings
from app.orchestration.sources.claude_shared import claude_context, write_one_claude_source
from app.orchestration.sources.contract import Source, SourceRun
from app.processing import transform
from app.processing.facts import ClaudeFact
from app.repositories.facts import CLAUDE_TABLE


class ClaudeCodeSource(Source):
    name = "claude_code"
    table = CLAUDE_TABLE
    # Documented freshness: about an hour; a day is settled once the next one is.
    revision_horizon = timedelta(days=2)

    def enabled(self, settings: Settings) -> bool:
        return settings.anthropic_admin_api_key is not None

    async def ingest(self, run: SourceRun) -> None:
        client = run.clients.anthropic
        assert client is not None  # enabled() holds
        run.stats.start_budget(run.settings.upstream_source_time_budget_seconds)
        context = await claude_context(run)
        for day in run.days:
            facts: list[ClaudeFact] = []
            async for page in run.pages(client.claude_code_day(day, run.stats)):
                if page.restarted:
                    facts = []
                for record in page.items:
                    facts.extend(transform.claude_code_facts(record, context.directory))
                del page  # not alive while the next one downloads or the day is written
            await write_one_claude_source(run, day, "claude_code_analytics", facts)
