"""The settings of the answers (budgets, alerts, seats, the digest): a part of `Settings`
(app.config), kept in a module of its own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from app.access import secret_problem


class WebhookFormat(StrEnum):
    SLACK = "slack"  # {"text": …}: Slack, Mattermost, Teams' Slack-compatible hooks
    JSON = "json"  # {"kind": …, "payload": …}


@dataclass(frozen=True)
class WebhookTarget:
    """Where alerts go. Its `name` is how deliveries are listed; the URL (a secret: it
    authorises posting) is never shown."""

    name: str
    format: WebhookFormat
    url: SecretStr


def parse_webhooks(text: str) -> list[WebhookTarget]:
    """`[{"name": "finance", "format": "slack", "url": "https://hooks.slack.com/…"}, …]`."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise ValueError("must be a JSON list of {name, format, url}") from None
    if not isinstance(raw, list):
        raise ValueError("must be a JSON list of {name, format, url}")
    targets: list[WebhookTarget] = []
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or set(item) - {"name", "format", "url"}:
            raise ValueError(f"target #{position}: an object of name, format and url")
        name, form, url = item.get("name"), item.get("format", "json"), item.get("url")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"target #{position}: name must be a non-empty string")
        if form not in tuple(WebhookFormat):
            raise ValueError(f"target {name!r}: format must be slack or json")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError(f"target {name!r}: url must be an http(s) URL")
        if problem := secret_problem(url):
            raise ValueError(f"target {name!r}: url {problem}")
        if any(target.name == name for target in targets):
            raise ValueError(f"target {name!r} is listed twice")
        targets.append(WebhookTarget(name, WebhookFormat(form), SecretStr(url)))
    return targets


class AnswerSettings(BaseSettings):
    # Webhook targets of budget alerts and the weekly digest (JSON list; a secret).
    webhook_urls: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    alert_delivery_attempts: int = Field(default=8, ge=1, le=100)
    alert_retry_base_seconds: float = Field(default=5.0, ge=0)
    # Seats: monthly prices by tool (or `tool:plan`), and what counts as idle or light.
    seat_prices_usd: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "cursor": Decimal(40),
            "copilot:business": Decimal(19),
            "copilot:enterprise": Decimal(39),
        }
    )
    idle_seat_days: int = Field(default=30, ge=1, le=366)
    light_seat_days: int = Field(default=2, ge=0, le=366)
    digest_cron: str = "0 8 * * 1"  # checked with SCHEDULE_CRON (app.config)

    @field_validator("webhook_urls")
    @classmethod
    def _webhooks(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_webhooks(value.get_secret_value())
        return value

    @field_validator("seat_prices_usd")
    @classmethod
    def _prices(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if bad := [key for key, price in value.items() if price < 0]:
            raise ValueError(f"negative price for {', '.join(bad)}")
        return value

    def answer_secrets(self) -> list[str]:
        """The webhook setting and each of its URLs (masked wherever text is made)."""
        if self.webhook_urls is None:
            return []
        urls = [target.url.get_secret_value() for target in self.webhooks()]
        return [self.webhook_urls.get_secret_value(), *urls]

    def webhooks(self) -> list[WebhookTarget]:
        return (
            []
            if self.webhook_urls is None
            else parse_webhooks(self.webhook_urls.get_secret_value())
        )
