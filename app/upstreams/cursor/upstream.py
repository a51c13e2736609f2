"""The Cursor upstream as the registry knows it."""

from __future__ import annotations

from app.accounts import AccountKind
from app.orchestration.sources.contract import Upstream
from app.upstreams.cursor.client import CURSOR_CLIENT, CursorEndpoint
from app.upstreams.cursor.facts import CursorLabel
from app.upstreams.cursor.sources.daily_usage import CursorSource
from app.upstreams.cursor.sources.usage_events import CursorSpendSource

UPSTREAM = Upstream(
    name="cursor",
    client=CURSOR_CLIENT,
    sources=(CursorSource(), CursorSpendSource()),
    endpoints=CursorEndpoint,
    labels=CursorLabel,
    simulator="app.upstreams.cursor.simulator.routes",
    account_kinds=(
        AccountKind(
            "cursor_team",
            "cursor",
            "A Cursor team read with its Admin API key.",
            secret_setting="cursor_api_key",
            base_url_setting="cursor_api_base_url",
            limits={
                "requests_per_minute": "cursor_requests_per_minute",
                "events_requests_per_minute": "cursor_events_requests_per_minute",
            },
        ),
    ),
)
