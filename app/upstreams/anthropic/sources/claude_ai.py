"""claude.ai → `fact_claude_daily_usage`: the Compliance activity feed (per-person activity
counts) and the Enterprise Analytics reports (per-person tokens and cost of every product —
Claude Code seats' use on the `claude_code` platform, the rest on `claude_ai`), whichever are
configured. With only the Analytics key (an Enterprise org without Console) this is the whole
Claude side of a run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, timedelta
from typing import TypeVar

from app.config import Settings
from app.ingestion.factory import UpstreamClients
from app.ingestion.pagination import Page
from app.orchestration.sources.assembly import DayFold, complete_days
from app.orchestration.sources.contract import Source, SourceRun
from app.processing.attribution import build_directory
from app.repositories import directory as directory_repo
from app.repositories.facts import CLAUDE_TABLE
from app.upstreams.anthropic import claude_ai_transform as transform
from app.upstreams.anthropic.analytics_remainder import remainder_facts
from app.upstreams.anthropic.claude_ai_client import ClaudeAiClient
from app.upstreams.anthropic.claude_ai_models import AnalyticsOrgBucket, ComplianceActivity
from app.upstreams.anthropic.clients import ANTHROPIC_CLIENTS
from app.upstreams.anthropic.facts import ClaudeLabel
from app.upstreams.anthropic.sources.shared import direct_directory, write_one_claude_source

MISSING_EMAIL = "missing email"


T = TypeVar("T")  # a report's row


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
        anthropic = clients.get(ANTHROPIC_CLIENTS)
        if anthropic is None:
            return 0
        return days * ((anthropic.compliance is not None) + (anthropic.analytics is not None))

    async def ingest(self, run: SourceRun) -> None:
        """The activity feed, then the analytics reports day by day, one page at a time.

        Fetched concurrently, claude.ai alone ran twice as fast over 30 days, but the full
        run's 30-day peak memory rose 15 % (python -m bench): its pages are the largest we hold.
        """
        clients = run.client(ANTHROPIC_CLIENTS)
        if (compliance := clients.compliance) is not None:
            await _activity(run, compliance)
        if (analytics := clients.analytics) is not None:
            await _analytics(run, analytics)


async def _analytics(run: SourceRun, client: ClaudeAiClient) -> None:
    """Every product, day by day: the people's reports and the organisation's, whose
    difference is the day's remainder row per product (API-key and automation traffic). People
    the reports name with an email are remembered, so a user deleted later (email null) still
    resolves through their user id."""
    async with run.pool.acquire() as connection:
        known = dict(await directory_repo.remembered_users(connection, run.account))

    async def rows(report: AsyncIterator[Page[T]], days: list[date]) -> list[T]:
        """A report of `days`, whole: a chain started again replaces what was read of it. The
        days are only as fresh as the stalest answer about them."""
        collected: list[T] = []
        async for page in run.pages(report):
            if page.restarted:
                collected = []
            collected.extend(page.items)
            if (refreshed := page.refreshed_at) is not None:
                for day in days:
                    held = run.freshness.get(day)
                    run.freshness[day] = min(held, refreshed) if held else refreshed
        return collected

    # The organisation's reports are small (a bucket per day and product): the whole window
    # at once, 31 days a request.
    window = run.days
    org_usage = _by_day(
        await rows(client.analytics_org_usage(run.start, run.end, run.stats), window)
    )
    org_cost = _by_day(await rows(client.analytics_org_cost(run.start, run.end, run.stats), window))
    for day in run.days:
        usage = await rows(client.analytics_usage(day, day, run.stats), [day])
        cost = await rows(client.analytics_cost(day, day, run.stats), [day])
        seen = transform.analytics_people([*usage, *cost])
        if new := [person for person in seen if known.get(person.user_id) != person.email]:
            async with run.pool.acquire() as connection:
                await directory_repo.remember_users(connection, run.account, new, complete=False)
            known.update((person.user_id, person.email) for person in new if person.email)
        directory = build_directory(confidences=run.settings.confidences, users=known.items())
        facts = transform.analytics_facts(day, usage, cost, directory)
        rest, said = remainder_facts(
            day, usage, cost, org_usage.get(day, []), org_cost.get(day, []),
            run.settings.confidences,
        )  # fmt: skip
        for warning in said:
            run.warn(warning)
        await write_one_claude_source(run, day, ClaudeLabel.CLAUDE_AI_ANALYTICS, facts + rest)


def _by_day(buckets: list[AnalyticsOrgBucket[T]]) -> dict[date, list[T]]:
    """A bucketed report's results by their UTC day."""
    days: dict[date, list[T]] = {}
    for bucket in buckets:
        days.setdefault(bucket.starting_at.astimezone(UTC).date(), []).extend(bucket.results)
    return days


async def _activity(run: SourceRun, client: ClaudeAiClient) -> None:
    """The feed is newest first: a day is complete once an older day shows up. Events are
    counted page by page; only the day's per-person counts are kept. Days without any event
    are written too (nothing happened, say so), under the shrink guard."""
    directory = direct_directory(run)

    def add(tally: transform.ActivityTally, activities: Iterable[ComplianceActivity]) -> None:
        if unusable := transform.tally_activities(activities, tally):
            run.skipped(MISSING_EMAIL, unusable)

    fold = DayFold(
        lambda activity: activity.created_at.astimezone(UTC).date(),
        transform.new_activity_tally,
        add,
        lambda tally: not tally,
    )
    pages = client.compliance_activities(run.start, run.end, run.stats)
    async for day in complete_days(run, pages, fold, every_day=run.days):
        facts = transform.activity_facts(day.day, day.value, directory)
        await write_one_claude_source(
            run, day.day, ClaudeLabel.CLAUDE_AI_ACTIVITY, facts, suspect=day.suspect
        )
