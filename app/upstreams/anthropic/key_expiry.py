"""Which listed API keys are ours, and when they expire (pure, no I/O).

Anthropic keys expire (since 2026-07: 3 h to "never", fixed at creation); after expiry every
request answers 401 and the key cannot be revived. The keys list gives each key's
`expires_at` and a `partial_key_hint` ("sk-ant-api03-R2D...igAA"): a configured key that
starts and ends as a hint says is that key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from app.upstreams.anthropic.models import ApiKey


@dataclass(frozen=True)
class KeyExpiry:
    setting: str  # the setting that holds our key, e.g. ANTHROPIC_ADMIN_API_KEY
    key_id: str
    expires_at: datetime


def matches(hint: str | None, secret: str) -> bool:
    if not hint or "..." not in hint:
        return False
    head, _, tail = hint.partition("...")
    return len(head) >= 8 and secret.startswith(head) and secret.endswith(tail)


def our_key_expiries(keys: Iterable[ApiKey], configured: Mapping[str, str]) -> list[KeyExpiry]:
    """The listed keys that are ours (by hint) and have an expiry, by setting."""
    found = []
    for key in keys:
        if key.expires_at is None:
            continue
        for setting, secret in configured.items():
            if matches(key.partial_key_hint, secret):
                found.append(KeyExpiry(setting, key.id, key.expires_at))
    return sorted(found, key=lambda expiry: (expiry.setting, expiry.expires_at))
