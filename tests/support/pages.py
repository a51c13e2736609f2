"""Upstream pages and rows as the clients read them, for unit tests."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from app.ingestion.pagination import decode_page

M = TypeVar("M")

COUNTERS = dict.fromkeys(
    [
        "totalLinesAdded",
        "totalLinesDeleted",
        "acceptedLinesAdded",
        "acceptedLinesDeleted",
        "totalApplies",
        "totalAccepts",
        "totalRejects",
        "totalTabsShown",
        "totalTabsAccepted",
        "composerRequests",
        "chatRequests",
        "agentRequests",
        "cmdkUsages",
        "subscriptionIncludedReqs",
        "apiKeyReqs",
        "usageBasedReqs",
        "bugbotUsages",
    ],
    1,
)


def decoded(model: type[M], value: Any) -> M:
    """`value` as the clients read it: from JSON bytes."""
    return decode_page(model, json.dumps(value).encode(), upstream="u", endpoint="e", where="w")


def cursor_row(email: str, day: str) -> dict[str, Any]:
    """A member's row; each email its own user id, as Cursor's are."""
    user_id = sum(email.encode())
    return {"email": email, "day": day, "date": 0, "userId": user_id, "isActive": True, **COUNTERS}
