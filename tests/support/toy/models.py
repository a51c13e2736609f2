"""The toy upstream's page: one person's events of one day per item."""

from __future__ import annotations

import msgspec

from app.ingestion.models import Row, Upstream


class ToyUsage(Row, frozen=True, kw_only=True):
    email: str
    events: int


class ToyPage(Upstream, frozen=True, kw_only=True):
    data: list[ToyUsage]
    next_page: int | None = None


__all__ = ["ToyPage", "ToyUsage", "msgspec"]
