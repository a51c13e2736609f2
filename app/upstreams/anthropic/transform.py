"""Admin API records (Claude Code analytics, messages usage, cost report) → fact rows (pure
functions, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from app.ingestion.money import cents_to_usd
from app.processing.attribution import AttributionDirectory
from app.processing.cost_allocation import CostLine, allocate
from app.processing.errors import require_usd
from app.upstreams.anthropic.categorization import BY_SOURCE, WorkspaceCategories, placement
from app.upstreams.anthropic.facts import ClaudeFact, ClaudeLabel, fold_duplicates
from app.upstreams.anthropic.models import ClaudeCodeRecord, CostResult, MessagesUsageResult


def claude_code_facts(
    record: ClaudeCodeRecord, directory: AttributionDirectory
) -> list[ClaudeFact]:
    """A record becomes one summary row (sessions, lines, commits, tools; model null) plus one
    row per model (tokens and estimated cost), so no quantity is repeated across rows."""
    actor = record.actor
    if actor.type == "user_actor":
        name = actor.email_address
        attribution = directory.direct(actor.email_address)
    else:
        name = actor.api_key_name
        attribution = directory.by_key_name(actor.api_key_name)

    def fact(model: str | None = None) -> ClaudeFact:
        """A row of the record: its summary (no model) or one model's."""
        return ClaudeFact(
            usage_date=record.date,
            platform="claude_code",
            platform_basis=BY_SOURCE,
            source=ClaudeLabel.CLAUDE_CODE_ANALYTICS,
            user_email=attribution.email,
            actor_type=actor.type,
            actor_name=name,
            customer_type=record.customer_type,
            terminal_type=record.terminal_type,
            is_remote=record.is_remote,
            attribution_method=attribution.method,
            attribution_confidence=attribution.confidence,
            model=model,
        )

    metrics = record.core_metrics
    summary = fact()
    summary.sessions = metrics.num_sessions
    summary.lines_added = metrics.lines_of_code.added
    summary.lines_removed = metrics.lines_of_code.removed
    summary.commits = metrics.commits_by_claude_code
    summary.pull_requests = metrics.pull_requests_by_claude_code
    summary.tool_accepted = sum(action.accepted for action in record.tool_actions.values())
    summary.tool_rejected = sum(action.rejected for action in record.tool_actions.values())
    rows = [summary]
    per_model: dict[str, ClaudeFact] = {}
    for entry in record.model_breakdown:
        row = per_model.get(entry.model)
        if row is None:
            row = per_model[entry.model] = fact(entry.model)
        row.uncached_input_tokens += entry.tokens.input
        row.output_tokens += entry.tokens.output
        row.cache_read_input_tokens += entry.tokens.cache_read
        row.cache_creation_input_tokens += entry.tokens.cache_creation
        if entry.estimated_cost is not None:
            require_usd(entry.estimated_cost.currency, "usage_report/claude_code")
            row.cost_usd = (row.cost_usd or Decimal(0)) + cents_to_usd(entry.estimated_cost.amount)
            row.cost_kind = "estimated"
    rows.extend(per_model.values())
    return rows


def claude_code_key_ids(
    records: Iterable[ClaudeCodeRecord], directory: AttributionDirectory
) -> set[str]:
    """Keys the analytics name as an `api_actor`, where the name matches exactly one key."""
    found = set()
    for record in records:
        if record.actor.type == "api_actor" and (
            key := directory.key_named(record.actor.api_key_name)
        ):
            found.add(key.id)
    return found


def usage_facts(
    day: date,
    results: Iterable[MessagesUsageResult],
    directory: AttributionDirectory,
    categories: WorkspaceCategories,
) -> list[ClaudeFact]:
    facts = []
    for result in results:
        if result.account_id:
            attribution = directory.by_account(result.account_id)
        elif result.service_account_id:
            attribution = directory.service_account()
        else:
            attribution = directory.by_key_id(result.api_key_id)
        platform, basis = placement(
            ClaudeLabel.USAGE_REPORT,
            result.workspace_id,
            categories,
            api_key_id=result.api_key_id,
            day=day,
        )
        fact = ClaudeFact(
            usage_date=day,
            platform=platform,
            platform_basis=basis,
            source=ClaudeLabel.USAGE_REPORT,
            user_email=attribution.email,
            actor_type=_messages_actor_type(result),
            actor_name=result.account_id or result.service_account_id,
            api_key_id=result.api_key_id,
            account_id=result.account_id,
            service_account_id=result.service_account_id,
            workspace_id=result.workspace_id,
            model=result.model,
            service_tier=result.service_tier,
            context_window=result.context_window,
            inference_geo=result.inference_geo,
            uncached_input_tokens=result.uncached_input_tokens,
            cache_creation_5m_input_tokens=result.cache_creation.ephemeral_5m_input_tokens,
            cache_creation_1h_input_tokens=result.cache_creation.ephemeral_1h_input_tokens,
            cache_creation_input_tokens=result.cache_creation.ephemeral_5m_input_tokens
            + result.cache_creation.ephemeral_1h_input_tokens,
            cache_read_input_tokens=result.cache_read_input_tokens,
            output_tokens=result.output_tokens,
            web_search_requests=result.server_tool_use.web_search_requests
            if result.server_tool_use
            else 0,
            attribution_method=attribution.method,
            attribution_confidence=attribution.confidence,
        )
        facts.append(fact)
    # One result split across pages, or dimensions we do not keep (speed): added up.
    return fold_duplicates(facts)


def _messages_actor_type(result: MessagesUsageResult) -> str | None:
    """Who sent a messages-report row when no API key did (a key row stays as it always was:
    its key id says who)."""
    if result.account_id:
        return "oauth_account"
    if result.service_account_id:
        return "service_account"
    return None


def cost_lines(results: Iterable[CostResult]) -> list[CostLine]:
    results = list(results)
    for result in results:
        require_usd(result.currency, "cost_report")
    return [
        CostLine(
            workspace_id=result.workspace_id,
            description=result.description,
            cost_type=result.cost_type,
            model=result.model,
            token_type=result.token_type,
            service_tier=result.service_tier,
            context_window=result.context_window,
            inference_geo=result.inference_geo,
            amount_usd=cents_to_usd(result.amount),
        )
        for result in results
    ]


def apply_cost(
    day: date,
    usage: Sequence[ClaudeFact],
    lines: Sequence[CostLine],
    categories: WorkspaceCategories,
    directory: AttributionDirectory,
) -> list[ClaudeFact]:
    """Set allocated cost on `usage` (in place) and return the residual cost rows."""
    allocation = allocate(lines, usage)
    for row, cost, basis in zip(usage, allocation.costs, allocation.bases, strict=True):
        row.cost_usd = cost
        row.cost_kind = None if cost is None else "allocated"
        row.allocation_basis = basis
    unattributed = directory.by_key_id(None)
    residuals = []
    for line, basis in zip(allocation.residuals, allocation.residual_bases, strict=True):
        platform, platform_basis = placement(ClaudeLabel.COST_REPORT, line.workspace_id, categories)
        residuals.append(
            ClaudeFact(
                usage_date=day,
                platform=platform,
                platform_basis=platform_basis,
                source=ClaudeLabel.COST_REPORT,
                workspace_id=line.workspace_id,
                model=line.model,
                service_tier=line.service_tier,
                context_window=line.context_window,
                inference_geo=line.inference_geo,
                cost_description=line.description,
                cost_type=line.cost_type,
                token_type=line.token_type,
                cost_usd=line.amount_usd,
                cost_kind="reported",
                allocation_basis=basis,
                attribution_method=unattributed.method,
                attribution_confidence=unattributed.confidence,
            )
        )
    return fold_duplicates(residuals)  # identical coordinates twice in a day: both amounts kept
