"""claude.ai → `fact_claude_daily_usage`: the Compliance activity feed (per-person activity
counts) and the Enterprise Analytics reports (per-person tokens and cost), whichever are
configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, timedelta
from typing import Any

from app.config import Settings
from app.ingestion.anthropic_client import AnthropicClient
from app.ingestion.factory import UpstreamClients
from app.ingestion.pagination import Page
from app.orchestration.sources.claude_shared import direct_directory, write_one_claude_source
from app.orchestration.sources.contract import Source, SourceRun
from app.processing import transform
from app.repositories.facts import CLAUDE_TABLE


class ClaudeAiSource(Source):
    name = "claude_ai"
    table = CLAUDE_TABLE
    # Enterprise Analytics cost and usage may be revised for up to 30 days (the activity feed's
    # events are immutable, but the source is as final as its slowest feed).
    revision_horizon = timedelta(days=30)

    def enabled(self, settings: Settings) -> bool:
        return (
            settings.compliance_key is not None or settings.anthropic_analytics_api_key is not None
        )

    def units(self, clients: UpstreamClients, days: int) -> int:
        """Up to two feeds (activity, analytics), each walking every day."""
        return days * ((clients.compliance is not None) + (clients.analytics is not None))

    async def ingest(self, run: SourceRun) -> None:
        """The activity feed, then the analytics reports day by day, one page at a time.

        Fetched concurrently, claude.ai alone ran twice as fast over 30 days, but the full
        run's 30-day peak memory rose 15 % (python -m bench): its pages are the largest we hold.
        """
        if (compliance := run.clients.compliance) is not None:
            await _activity(run, compliance)
        if (analytics := run.clients.analytics) is not None:
            await _analytics(run, analytics)


async def _analytics(run: SourceRun, client: AnthropicClient) -> None:
    directory = direct_directory(run)

    async def rows(report: AsyncIterator[Page[Any]]) -> list[Any]:
        return [row async for page in run.pages(report) for row in page.items]

    for day in run.days:
        usage = await rows(client.analytics_chat_usage(day, day, run.stats))
        cost = await rows(client.analytics_chat_cost(day, day, run.stats))
        facts = transform.analytics_facts(day, usage, cost, directory)
        await write_one_claude_source(run, day, "claude_ai_analytics", facts)


async def _activity(run: SourceRun, client: AnthropicClient) -> None:
    """The feed is newest first: a day is complete once an older day shows up. Events are
    counted page by page; only the day's per-person counts are kept."""
    directory = direct_directory(run)
    current: date | None = None
    tally = transform.new_activity_tally()
    seen: set[date] = set()

    async def flush(day: date, counted: transform.ActivityTally) -> None:
        seen.add(day)
        facts = transform.activity_facts(day, counted, directory)
        await write_one_claude_source(run, day, "claude_ai_activity", facts)

    pages = client.compliance_activities(run.scope.start, run.scope.end, run.stats)
    async for page in run.pages(pages):
        same_day: list[Any] = []
        for activity in page.items:
            day = activity.created_at.astimezone(UTC).date()
            if current is not None and day != current:
                transform.tally_activities(same_day, tally)
                same_day = []
                await flush(current, tally)
                tally = transform.new_activity_tally()
            current = day
            same_day.append(activity)
        transform.tally_activities(same_day, tally)
    if current is not None:
        await flush(current, tally)
    for day in run.days:  # days without any event: nothing happened, say so
        if day not in seen:
            await flush(day, transform.new_activity_tally())
