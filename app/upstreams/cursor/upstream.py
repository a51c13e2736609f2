"""The Cursor upstream as the registry knows it."""

from __future__ import annotations

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
)
