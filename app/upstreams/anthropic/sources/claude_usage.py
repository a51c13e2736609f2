"""Messages usage report (`usage_report/messages`) → `fact_claude_daily_usage`, with the cost
report's lines allocated to it through the run's `BillingJoin`. A day is placed on its platforms
once the Claude Code source of the same run has read it (`ClaudeCodeKeys`)."""

from __future__ import annotations

from app.orchestration.sources.assembly import Day, complete_days
from app.orchestration.sources.contract import After, Per, SourceRun
from app.upstreams.anthropic import transform
from app.upstreams.anthropic.models import MessagesUsageBucket
from app.upstreams.anthropic.sources.billing import BillingJoin, buckets_fold
from app.upstreams.anthropic.sources.claude_code import ClaudeCodeKeys
from app.upstreams.anthropic.sources.shared import AdminApiSource, claude_context


class ClaudeUsageSource(AdminApiSource):
    name = "claude_usage"
    # A day is placed on its platforms with the Claude Code keys learned up to that day.
    after = (After("claude_code", Per.DAY),)

    async def ingest(self, run: SourceRun) -> None:
        client = self.client(run)
        join = BillingJoin.of(run)
        join.attach_usage(run)
        try:
            context = await claude_context(run)
            pages = client.messages_usage(run.start, run.end, run.stats)
            keys = ClaudeCodeKeys.of(run)
            async for day in complete_days(run, pages, buckets_fold(MessagesUsageBucket)):
                learned = await keys.settled(day.day)
                categories = context.categories.with_keys(learned)
                facts = transform.usage_facts(day.day, day.value, context.directory, categories)
                await join.offer_usage(Day(day.day, facts, day.suspect))
                del day, facts  # a day's models are freed before the next page downloads
            await join.usage_done()
        except BaseException as exc:
            join.fail_usage(exc)
            raise
