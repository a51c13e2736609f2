"""Claude Code analytics (`usage_report/claude_code`) → `fact_claude_daily_usage`, day by day."""

from __future__ import annotations

from app.orchestration.sources.claude_shared import (
    AdminApiSource,
    claude_context,
    write_one_claude_source,
)
from app.orchestration.sources.contract import SourceRun
from app.processing import transform
from app.processing.facts import ClaudeFact


class ClaudeCodeSource(AdminApiSource):
    name = "claude_code"

    async def ingest(self, run: SourceRun) -> None:
        client = self.client(run)
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
