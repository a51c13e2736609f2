"""The GitHub Copilot upstream as the registry knows it."""

from __future__ import annotations

from app.accounts import AccountKind
from app.orchestration.sources.contract import Upstream
from app.upstreams.copilot.client import COPILOT_CLIENT, CopilotEndpoint
from app.upstreams.copilot.facts import CopilotLabel
from app.upstreams.copilot.sources import CopilotBillingSource, CopilotUsageSource

_LIMITS = {"requests_per_minute": "github_requests_per_minute"}

UPSTREAM = Upstream(
    name="copilot",
    client=COPILOT_CLIENT,
    sources=(CopilotUsageSource(), CopilotBillingSource()),
    endpoints=CopilotEndpoint,
    labels=CopilotLabel,
    simulator="app.upstreams.copilot.simulator.routes",
    account_kinds=(
        AccountKind(
            "github_organization",
            "copilot",
            "A GitHub organisation's Copilot: its usage-metrics reports, seats and AI-credit"
            " billing, read with an owner's (or billing manager's) token.",
            secret_setting="github_token",
            base_url_setting="github_api_base_url",
            limits=_LIMITS,
            names={"organization": "github_organization"},
        ),
        AccountKind(
            "github_enterprise",
            "copilot",
            "A GitHub enterprise's Copilot (de-duplicated across its organisations): its"
            " usage-metrics reports, seats and AI-credit billing.",
            secret_setting="github_token",
            base_url_setting="github_api_base_url",
            limits=_LIMITS,
            names={"enterprise": "github_enterprise"},
        ),
    ),
)
