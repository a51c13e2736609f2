"""The Anthropic upstream (Admin API, Compliance feed, Enterprise Analytics) as the registry
knows it."""

from __future__ import annotations

from app.accounts import AccountKind, ExtraKey
from app.orchestration.sources.contract import Upstream
from app.upstreams.anthropic.client import AnthropicEndpoint
from app.upstreams.anthropic.clients import ANTHROPIC_CLIENTS
from app.upstreams.anthropic.facts import ClaudeLabel
from app.upstreams.anthropic.sources.claude_ai import ClaudeAiSource
from app.upstreams.anthropic.sources.claude_code import ClaudeCodeSource
from app.upstreams.anthropic.sources.claude_cost import ClaudeCostSource
from app.upstreams.anthropic.sources.claude_usage import ClaudeUsageSource

UPSTREAM = Upstream(
    name="anthropic",
    client=ANTHROPIC_CLIENTS,
    sources=(ClaudeCodeSource(), ClaudeUsageSource(), ClaudeCostSource(), ClaudeAiSource()),
    endpoints=AnthropicEndpoint,
    labels=ClaudeLabel,
    simulator="app.upstreams.anthropic.simulator.routes",
    tool="claude",
    account_kinds=(
        AccountKind(
            "anthropic_organization",
            "anthropic",
            "An Anthropic organisation read with an Admin API key (Claude Code analytics, the"
            " messages usage and cost reports).",
            secret_setting="anthropic_admin_api_key",
            base_url_setting="anthropic_api_base_url",
            limits={
                "requests_per_minute": "anthropic_requests_per_minute",
                "analytics_requests_per_minute": "anthropic_analytics_requests_per_minute",
                "compliance_requests_per_minute": "anthropic_compliance_requests_per_minute",
            },
            # The same organisation's claude.ai keys: in the same account, so the views count
            # its Claude Code once and its Analytics remainder only where no usage report is.
            extra_keys={
                "analytics": ExtraKey("anthropic_analytics_api_key"),
                "compliance": ExtraKey(
                    "anthropic_compliance_api_key", {"claude_ai_activity_enabled": True}
                ),
            },
        ),
        AccountKind(
            "anthropic_enterprise_analytics",
            "anthropic",
            "A Claude Enterprise organisation read with an Enterprise Analytics key (claude.ai).",
            secret_setting="anthropic_analytics_api_key",
            base_url_setting="anthropic_api_base_url",
            limits={"requests_per_minute": "anthropic_analytics_requests_per_minute"},
        ),
        AccountKind(
            "anthropic_compliance",
            "anthropic",
            "A Claude Enterprise organisation's Compliance activity feed (claude.ai).",
            secret_setting="anthropic_compliance_api_key",
            base_url_setting="anthropic_api_base_url",
            limits={"requests_per_minute": "anthropic_compliance_requests_per_minute"},
            enables={"claude_ai_activity_enabled": True},
        ),
    ),
)
