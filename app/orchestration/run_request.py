"""What a run may be asked to do: one set of rules for the API, the CLI and the scheduler.

A request names a window of UTC days and sources, any of them optional. `plan_run` fills in the
defaults (the last LOOKBACK_DAYS complete days, every configured source) and checks the rules —
the window's order, no future day, at most MAX_WINDOW_DAYS, sources known and configured (and
the sources they require brought along) — so the same input gets the same verdict everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.config import Settings
from app.orchestration.sources.contract import days_between
from app.orchestration.sources.registry import REGISTRY, SourceRegistry


class InvalidRunRequest(ValueError):
    """The request breaks a rule; the message says which, in one line."""


@dataclass(frozen=True)
class RunRequest:
    """What a caller asked for; None means "the default"."""

    start: date | None = None
    end: date | None = None
    sources: Sequence[str] | None = None


@dataclass(frozen=True)
class PlannedRun:
    """A valid request with its defaults filled in. `source_windows` gives a source its own
    sub-window (a heal run re-reads each source's own days); others take the whole window."""

    start: date
    end: date
    sources: tuple[str, ...]
    source_windows: Mapping[str, tuple[date, date]] = field(default_factory=dict)

    @property
    def days(self) -> list[date]:
        return days_between(self.start, self.end)

    def days_of(self, source: str) -> list[date]:
        return days_between(*self.source_windows.get(source, (self.start, self.end)))


def utc_today() -> date:
    return datetime.now(UTC).date()


def default_window(settings: Settings, today: date | None = None) -> tuple[date, date]:
    """The last LOOKBACK_DAYS complete UTC days before `today`."""
    today = today or utc_today()
    return today - timedelta(days=settings.lookback_days), today - timedelta(days=1)


def plan_run(
    settings: Settings,
    request: RunRequest | None = None,
    *,
    today: date | None = None,
    registry: SourceRegistry = REGISTRY,
) -> PlannedRun:
    """The run `request` asks for, or `InvalidRunRequest` saying which rule it breaks."""
    request = request or RunRequest()
    today = today or utc_today()
    default_start, default_end = default_window(settings, today)
    start = request.start or default_start
    end = request.end or (default_end if request.start is None else max(start, default_end))
    if end < start:
        raise InvalidRunRequest(f"end_date {end} is before start_date {start}")
    if end > today:
        raise InvalidRunRequest(f"end_date {end} is in the future (today is {today} UTC)")
    if start < settings.earliest_day:
        raise InvalidRunRequest(
            f"start_date {start} is before EARLIEST_DAY={settings.earliest_day}"
            " (none of these APIs has data from before it)"
        )
    days = (end - start).days + 1
    if days > settings.max_window_days:
        raise InvalidRunRequest(
            f"window of {days} days exceeds MAX_WINDOW_DAYS={settings.max_window_days}"
        )
    return PlannedRun(start, end, resolve_sources(settings, request.sources, registry))


def resolve_sources(
    settings: Settings, requested: Sequence[str] | None, registry: SourceRegistry = REGISTRY
) -> tuple[str, ...]:
    """Requested sources (default: every configured one) and the sources they require, in
    registry order."""
    configured = registry.configured(settings)
    wanted = set(requested) if requested else set(configured)
    unknown = sorted(name for name in wanted if name not in registry)
    if unknown:
        raise InvalidRunRequest(f"unknown source(s): {', '.join(unknown)}")
    pending = list(wanted)
    while pending:
        for required in registry.get(pending.pop()).requires:
            if required not in wanted:
                wanted.add(required)
                pending.append(required)
    missing = sorted(wanted - set(configured))
    if missing:
        raise InvalidRunRequest(
            f"source(s) not configured: {', '.join(missing)} (set their API keys)"
        )
    if not wanted:
        raise InvalidRunRequest(
            "no source is configured on this service (set the API key of at least one source)"
        )
    return tuple(name for name in registry.names() if name in wanted)
