"""What a run may be asked to do: one set of rules for the API, the CLI and the scheduler.

A request names a window of UTC days, accounts and sources, any of them optional. `plan_run`
fills in the defaults (the last LOOKBACK_DAYS complete days, every account, every source each
account configures) and checks the rules — the window's order, no future day, at most
MAX_WINDOW_DAYS, accounts known, sources known and configured (and the sources they require
brought along) — so the same input gets the same verdict everywhere. `parts_of` cuts a plan
into the parts workers claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.accounts import DEFAULT_ACCOUNT, Account, AccountSource
from app.config import Settings
from app.orchestration.sources.contract import days_between
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.repositories.runs import NewRun


class InvalidRunRequest(ValueError):
    """The request breaks a rule; the message says which, in one line."""


@dataclass(frozen=True)
class RunRequest:
    """What a caller asked for; None means "the default"."""

    start: date | None = None
    end: date | None = None
    sources: Sequence[str] | None = None
    accounts: Sequence[str] | None = None


Window = tuple[date, date]


@dataclass(frozen=True)
class PlannedRun:
    """A valid request with its defaults filled in: every source of the run (`sources`, in
    registry order), each account's own (`accounts`; empty: the account `default` runs them
    all), and sub-windows (`windows`: a heal run re-reads each account's source's own days;
    the others take the whole window)."""

    start: date
    end: date
    sources: tuple[str, ...]
    windows: Mapping[AccountSource, Window] = field(default_factory=dict)
    accounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def days(self) -> list[date]:
        return days_between(self.start, self.end)

    @property
    def by_account(self) -> dict[str, tuple[str, ...]]:
        return dict(self.accounts) or {DEFAULT_ACCOUNT: self.sources}

    def window_of(self, part: AccountSource) -> Window:
        return self.windows.get(part, (self.start, self.end))

    def days_of(self, part: AccountSource) -> list[date]:
        return days_between(*self.window_of(part))

    def windows_by_account(self) -> dict[str, dict[str, Window]]:
        """The sub-windows as runs store them: {account: {source: window}}."""
        stored: dict[str, dict[str, Window]] = {}
        for part, window in self.windows.items():
            stored.setdefault(part.account, {})[part.source] = window
        return stored


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
    accounts = resolve_accounts(settings, request.accounts, request.sources, registry)
    ordered = tuple(name for name in registry.names() if any(name in s for s in accounts.values()))
    return PlannedRun(start, end, ordered, accounts=accounts)


def chosen_accounts(
    settings: Settings, asked: Sequence[str] | None, registry: SourceRegistry = REGISTRY
) -> list[Account]:
    """The configured accounts asked for (default: all), in their order; an unknown name is
    `InvalidRunRequest` naming it (and the known ones)."""
    configured = registry.accounts(settings)
    if asked:
        unknown = sorted(set(asked) - {account.name for account in configured})
        if unknown:
            known = ", ".join(account.name for account in configured) or "none"
            shown = ", ".join(unknown[:10])
            raise InvalidRunRequest(f"unknown account(s): {shown} (known: {known})")
    return [account for account in configured if not asked or account.name in asked]


def resolve_accounts(
    settings: Settings,
    asked: Sequence[str] | None,
    sources: Sequence[str] | None,
    registry: SourceRegistry = REGISTRY,
) -> dict[str, tuple[str, ...]]:
    """Each account of the run and its sources: the accounts asked (default: all) that
    configure any source asked (default: every source they configure)."""
    accounts = chosen_accounts(settings, asked, registry)
    if sources and (unknown := sorted(name for name in set(sources) if name not in registry)):
        raise InvalidRunRequest(f"unknown source(s): {', '.join(unknown)}")
    chosen: dict[str, tuple[str, ...]] = {}
    for account in accounts:
        offered = registry.configured(account.settings)
        wanted = [name for name in offered if not sources or name in sources]
        if wanted:
            chosen[account.name] = resolve_sources(account.settings, wanted, registry)
        elif asked:
            raise InvalidRunRequest(
                f"account {account.name} configures none of the sources asked"
                f" ({', '.join(sorted(sources or ()))})"
            )
    taken = {name for names in chosen.values() for name in names}
    if sources and (missing := sorted(set(sources) - taken)):
        raise InvalidRunRequest(
            f"source(s) not configured: {', '.join(missing)} (set their API keys)"
        )
    if not chosen:
        raise InvalidRunRequest(
            "no source is configured on this service (set the API key of at least one source)"
        )
    return chosen


def parts_of(
    plan: PlannedRun, registry: SourceRegistry = REGISTRY
) -> list[tuple[str, tuple[str, ...]]]:
    """The parts of a run workers claim: per account, its sources that must run together —
    one that requires or waits on another of the run, with it (cost is allocated to the
    usage of the same day; they share the account's directory) — and every other source on
    its own, so one account's sources spread over worker processes."""
    parts: list[tuple[str, tuple[str, ...]]] = []
    for account, sources in plan.by_account.items():
        group = {name: name for name in sources}  # union-find: each source's representative
        for name in sources:
            source = registry.get(name)
            for other in (*source.requires, *(after.source for after in source.after)):
                if other in group:
                    group[_root(group, name)] = _root(group, other)
        together: dict[str, list[str]] = {}
        for name in sources:
            together.setdefault(_root(group, name), []).append(name)
        parts += [(account, tuple(names)) for names in together.values()]
    return parts


def _root(group: dict[str, str], name: str) -> str:
    while group[name] != name:
        name = group[name]
    return name


def stored_run(plan: PlannedRun, registry: SourceRegistry = REGISTRY) -> NewRun:
    """The plan as the run queue stores it: its parts, and each source's table."""
    parts = parts_of(plan, registry)
    return NewRun(
        window_start=plan.start,
        window_end=plan.end,
        sources=list(plan.sources),
        accounts=list(plan.by_account),
        parts=parts,
        tables={name: registry.get(name).table for _, names in parts for name in names},
        source_windows=plan.windows_by_account() or None,
    )


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
