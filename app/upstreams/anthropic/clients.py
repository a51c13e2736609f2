"""The Anthropic upstream's clients, one per key, as the registry builds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import SecretStr

from app.config import Settings
from app.ingestion.factory import ClientKey, HttpParts
from app.upstreams.anthropic.claude_ai_client import ClaudeAiClient
from app.upstreams.anthropic.client import AnthropicClient, anthropic_headers

A = TypeVar("A", bound=AnthropicClient)


@dataclass(frozen=True)
class AnthropicClients:
    """One client per Anthropic key: the Admin API key, the Compliance key (or the admin key
    where it is allowed to read the feed) and the Enterprise Analytics key."""

    admin: AnthropicClient | None
    compliance: ClaudeAiClient | None
    analytics: ClaudeAiClient | None


def build_clients(settings: Settings, parts: HttpParts) -> AnthropicClients | None:
    def client(kind: type[A], key: SecretStr | None, setting: str, per_minute: float) -> A | None:
        if key is None:
            return None
        return kind(
            parts.http(
                upstream=AnthropicClient.upstream,
                base_url=str(settings.anthropic_api_base_url),
                key_setting=setting,
                headers=anthropic_headers(key.get_secret_value()),
                per_minute=per_minute,
            ),
            report_days_per_page=settings.anthropic_report_days_per_page,
        )

    compliance_setting = (
        "ANTHROPIC_COMPLIANCE_API_KEY"
        if settings.anthropic_compliance_api_key is not None
        else "ANTHROPIC_ADMIN_API_KEY"
    )
    clients = AnthropicClients(
        admin=client(
            AnthropicClient,
            settings.anthropic_admin_api_key,
            "ANTHROPIC_ADMIN_API_KEY",
            settings.anthropic_requests_per_minute,
        ),
        compliance=client(
            ClaudeAiClient,
            settings.compliance_key,
            compliance_setting,
            settings.anthropic_compliance_requests_per_minute,
        ),
        analytics=client(
            ClaudeAiClient,
            settings.anthropic_analytics_api_key,
            "ANTHROPIC_ANALYTICS_API_KEY",
            settings.anthropic_analytics_requests_per_minute,
        ),
    )
    return None if clients == AnthropicClients(None, None, None) else clients


ANTHROPIC_CLIENTS: ClientKey[AnthropicClients] = ClientKey("anthropic", build_clients)
