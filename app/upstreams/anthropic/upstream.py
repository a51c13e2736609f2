"""The Anthropic upstream (Admin API, Compliance feed, Enterprise Analytics) as the registry
knows it."""

from __future__ import annotations

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
)
