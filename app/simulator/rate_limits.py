"""The upstreams' documented rate limits, enforced by the simulator (optionally scaled ×N).

Each limit is a budget shared by a group of endpoints, as the documents state them (reference
§1, §2, §8): Cursor Admin endpoints 20 requests/minute per team, Cursor usage events 60, the
Anthropic Admin API 100 per organisation, Enterprise Analytics 60, the Compliance feed 600.
A budget is a token bucket holding one minute's requests (`per_minute`), refilled evenly: a
client that paces its requests at the limit never sees a 429, one that bursts past it does —
with the upstream's own 429 envelope and a `Retry-After` saying when the next token arrives.
`scale` multiplies every rate (and shortens the minute), so a benchmark of a 10-minute floor
can take one minute and still measure how tightly a client packs its requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Documented requests per minute of each budget, and the endpoints (as the simulator names them)
# that draw on it.
BUDGETS: dict[str, tuple[float, frozenset[str]]] = {
    "cursor_admin": (20.0, frozenset({"daily-usage-data", "teams/members", "teams/spend"})),
    "cursor_events": (60.0, frozenset({"filtered-usage-events"})),
    "anthropic_admin": (
        100.0,
        frozenset(
            {
                "usage_report/claude_code",
                "usage_report/messages",
                "cost_report",
                "api_keys",
                "users",
                "workspaces",
            }
        ),
    ),
    "anthropic_analytics": (
        60.0,
        frozenset(
            {
                "analytics/user_usage_report",
                "analytics/user_cost_report",
                "analytics/usage_report",
                "analytics/cost_report",
            }
        ),
    ),
    "anthropic_compliance": (600.0, frozenset({"compliance/activities"})),
}
_BUDGET_OF: dict[str, str] = {
    endpoint: budget for budget, (_, endpoints) in BUDGETS.items() for endpoint in endpoints
}


def budget_of(endpoint: str) -> str | None:
    return _BUDGET_OF.get(endpoint)


@dataclass
class _Bucket:
    per_second: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float | None:
        """Take a token; None if one was there, else the seconds until the next one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.per_second


@dataclass
class RateLimits:
    """Every budget's bucket; `scale` None means no limits are enforced."""

    scale: float | None = None
    limited: dict[str, int] = field(default_factory=dict)  # 429s answered, per budget
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, endpoint: str) -> float | None:
        """None if the request may be served, else the Retry-After seconds of its 429."""
        budget = budget_of(endpoint)
        if self.scale is None or budget is None:
            return None
        now = time.monotonic()
        bucket = self._buckets.get(budget)
        if bucket is None:
            per_minute = BUDGETS[budget][0]
            bucket = _Bucket(per_minute * self.scale / 60, per_minute, per_minute, now)
            self._buckets[budget] = bucket
        wait = bucket.take(now)
        if wait is not None:
            self.limited[budget] = self.limited.get(budget, 0) + 1
        return wait
