"""claude.ai records (Compliance activity, Enterprise Analytics) → fact rows (pure functions,
no I/O)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from app.ingestion.money import cents_to_usd
from app.processing.attribution import AttributionDirectory, SeenUser
from app.processing.emails import normalize_email
from app.processing.errors import require_usd
from app.upstreams.anthropic.categorization import BY_SOURCE, WorkspaceCategories, placement
from app.upstreams.anthropic.claude_ai_models import (
    AnalyticsActor,
    AnalyticsCostRow,
    AnalyticsUsageRow,
    ComplianceActivity,
)
from app.upstreams.anthropic.facts import ClaudeFact, ClaudeLabel

ACTIVITY_COUNTERS = {
    "claude_chat_created": "chats_created",
    "claude_project_created": "projects_created",
    "claude_file_uploaded": "files_uploaded",
}


ActivityTally = dict[str, Counter[str]]


def new_activity_tally() -> ActivityTally:
    return defaultdict(Counter)


def tally_activities(activities: Iterable[ComplianceActivity], per_person: ActivityTally) -> int:
    """Count claude.ai events per person (only people, not API keys) into `per_person`, so a
    day's events can be counted page by page and dropped, not held until the day ends.
    Returns how many events of a person came without an email (unusable: counted, skipped)."""
    unusable = 0
    for activity in activities:
        if activity.actor.type != "user_actor":
            continue
        email = normalize_email(activity.actor.email_address)
        if email is None:
            unusable += 1
            continue
        per_person[email]["activity_count"] += 1
        if counter := ACTIVITY_COUNTERS.get(activity.type):
            per_person[email][counter] += 1
    return unusable


def activity_facts(
    day: date, per_person: ActivityTally, directory: AttributionDirectory
) -> list[ClaudeFact]:
    """One day's tallied claude.ai events, one fact per person."""
    facts = []
    for email, counts in sorted(per_person.items()):
        attribution = directory.direct(email)
        facts.append(
            ClaudeFact(
                usage_date=day,
                platform="claude_ai",
                platform_basis=BY_SOURCE,
                source=ClaudeLabel.CLAUDE_AI_ACTIVITY,
                user_email=attribution.email,
                actor_type="user_actor",
                actor_name=email,
                activity_count=counts["activity_count"],
                chats_created=counts["chats_created"],
                projects_created=counts["projects_created"],
                files_uploaded=counts["files_uploaded"],
                attribution_method=attribution.method,
                attribution_confidence=attribution.confidence,
            )
        )
    return facts


def analytics_people(rows: Iterable[AnalyticsUsageRow | AnalyticsCostRow]) -> list[SeenUser]:
    """The people Enterprise Analytics names with an email (a deleted user has none)."""
    people: dict[str, SeenUser] = {}
    for row in rows:
        actor = row.actor
        email = normalize_email(actor.email)
        if actor.user_id and email and not actor.deleted:
            people[actor.user_id] = SeenUser(actor.user_id, email, actor.name)
    return list(people.values())


def analytics_facts(
    day: date,
    usage: Iterable[AnalyticsUsageRow],
    cost: Iterable[AnalyticsCostRow],
    directory: AttributionDirectory,
) -> list[ClaudeFact]:
    """Enterprise Analytics tokens and cost of one day, one row per (person, product): the
    `claude_code` product on the `claude_code` platform, every other product on `claude_ai`.
    A deleted user (email null) resolves through the user ids remembered; one never seen is
    kept under their id, unattributed."""
    facts: dict[tuple[str, str | None], ClaudeFact] = {}
    no_categories = WorkspaceCategories(frozenset())

    def fact_for(actor: AnalyticsActor, product: str | None) -> ClaudeFact:
        identity = normalize_email(actor.email) or actor.user_id or "unknown"
        if (identity, product) not in facts:
            attribution = directory.person(actor.email, actor.user_id)
            platform, basis = placement(
                ClaudeLabel.CLAUDE_AI_ANALYTICS, None, no_categories, product=product
            )
            facts[(identity, product)] = ClaudeFact(
                usage_date=day,
                platform=platform,
                platform_basis=basis,
                source=ClaudeLabel.CLAUDE_AI_ANALYTICS,
                product=product,
                user_email=attribution.email,
                actor_type="user_actor",
                actor_name=identity,
                requests=0,
                attribution_method=attribution.method,
                attribution_confidence=attribution.confidence,
            )
        return facts[(identity, product)]

    for row in usage:
        fact = fact_for(row.actor, row.product)
        fact.uncached_input_tokens += row.uncached_input_tokens
        fact.cache_creation_5m_input_tokens += row.cache_creation.ephemeral_5m_input_tokens
        fact.cache_creation_1h_input_tokens += row.cache_creation.ephemeral_1h_input_tokens
        fact.cache_creation_input_tokens += (
            row.cache_creation.ephemeral_5m_input_tokens
            + row.cache_creation.ephemeral_1h_input_tokens
        )
        fact.cache_read_input_tokens += row.cache_read_input_tokens
        fact.output_tokens += row.output_tokens
        fact.web_search_requests += (
            row.server_tool_use.web_search_requests if row.server_tool_use else 0
        )
        fact.requests = (fact.requests or 0) + row.requests
    for cost_row in cost:
        require_usd(cost_row.currency, "analytics/user_cost_report")
        fact = fact_for(cost_row.actor, cost_row.product)
        fact.cost_usd = (fact.cost_usd or Decimal(0)) + cents_to_usd(cost_row.amount)
        fact.cost_kind = "reported"
    return list(facts.values())
