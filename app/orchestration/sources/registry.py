"""The upstreams a run can ingest and their sources, found by name.

The job, the run requests, the API, the CLI and the metrics know upstreams and sources only
through a registry; `REGISTRY` holds the built-in ones. Adding an upstream is its package
(`app/upstreams/<name>/`) and one line in `UPSTREAMS` below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import httpx

from app import redaction
from app.accounts import (
    DEFAULT_ACCOUNT,
    Account,
    AccountEntry,
    AccountFileError,
    AccountKind,
    account_settings,
    read_accounts_file,
)
from app.config import Settings, SettingsError
from app.ingestion.factory import UpstreamClients, build_clients
from app.orchestration.sources.contract import Source, Upstream
from app.upstreams.anthropic.upstream import UPSTREAM as ANTHROPIC
from app.upstreams.copilot.upstream import UPSTREAM as COPILOT
from app.upstreams.cursor.upstream import UPSTREAM as CURSOR

UPSTREAMS: tuple[Upstream, ...] = (
    CURSOR,
    ANTHROPIC,
    COPILOT,
)


class SourceRegistry:
    """Upstreams and their sources by name, in the order they were registered (the order runs
    list them in)."""

    def __init__(self, upstreams: Iterable[Upstream] = (), sources: Iterable[Source] = ()) -> None:
        self._sources: dict[str, Source] = {}
        self._upstreams: dict[str, Upstream] = {}
        # Accounts resolved per settings object (the file is read once per process).
        self._accounts: dict[int, tuple[Settings, tuple[Account, ...]]] = {}
        for upstream in upstreams:
            self.add(upstream)
        for source in sources:
            self.register(source)

    def add(self, upstream: Upstream) -> Upstream:
        """Register an upstream and every source it offers."""
        if upstream.name in self._upstreams:
            raise ValueError(f"an upstream named {upstream.name!r} is registered already")
        taken = [source.name for source in upstream.sources if source.name in self._sources]
        if taken:
            raise ValueError(f"{upstream.name}: source name(s) registered already: {taken}")
        self._upstreams[upstream.name] = upstream
        try:
            for source in upstream.sources:
                self.register(source)
        except ValueError:
            self.remove(upstream.name)
            raise
        return upstream

    def remove(self, name: str) -> None:
        upstream = self._upstreams.pop(name, None)
        for source in upstream.sources if upstream is not None else ():
            self.unregister(source.name)

    def register(self, source: Source) -> Source:
        """One source (an upstream's, or one a test adds on its own)."""
        if source.name in self._sources:
            raise ValueError(f"a source named {source.name!r} is registered already")
        # Sources it requires or waits on come first, so neither relation can loop.
        for relation, named in (
            ("requires", source.requires),
            ("waits on", tuple(after.source for after in source.after)),
        ):
            if unknown := [name for name in named if name not in self._sources]:
                raise ValueError(f"{source.name} {relation} unregistered source(s): {unknown}")
        self._sources[source.name] = source
        return source

    def unregister(self, name: str) -> None:
        self._sources.pop(name, None)

    def __iter__(self) -> Iterator[Source]:
        return iter(self._sources.values())

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def get(self, name: str) -> Source:
        return self._sources[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._sources)

    @property
    def upstreams(self) -> tuple[Upstream, ...]:
        return tuple(self._upstreams.values())

    def endpoints(self) -> list[tuple[str, str]]:
        """(upstream, endpoint) of every request an upstream's client makes (metric labels)."""
        return [
            (upstream.name, endpoint.value)
            for upstream in self._upstreams.values()
            for endpoint in upstream.endpoints
        ]

    def build_clients(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        key_labels: Mapping[str, str] | None = None,
    ) -> UpstreamClients:
        """Every registered upstream's client the settings configure (`key_labels`: how errors
        name an account's keys, by setting)."""
        keys = [u.client for u in self._upstreams.values()]
        return build_clients(settings, client, keys, key_labels or {})

    def tool_sources(self) -> dict[str, tuple[str, ...]]:
        """The sources of each tool of the cross-tool view (its rows' `tool`)."""
        tools: dict[str, tuple[str, ...]] = {}
        for upstream in self._upstreams.values():
            names = tuple(source.name for source in upstream.sources)
            tools[upstream.tool_name] = tools.get(upstream.tool_name, ()) + names
        return tools

    def account_kinds(self) -> dict[str, AccountKind]:
        return {kind.name: kind for u in self._upstreams.values() for kind in u.account_kinds}

    def accounts(self, settings: Settings) -> tuple[Account, ...]:
        """The accounts the settings configure: `default` (the single-key settings) when they
        enable a source, then ACCOUNTS_FILE's in its order. `SettingsError` names the account
        and field of a bad file."""
        known = self._accounts.get(id(settings))
        if known is not None and known[0] is settings:
            return known[1]
        accounts: list[Account] = []
        if self.configured(settings):
            accounts.append(Account(DEFAULT_ACCOUNT, None, settings))
        if settings.accounts_file is not None:
            try:
                entries = read_accounts_file(settings.accounts_file, self.account_kinds(), settings)
            except AccountFileError as exc:
                raise SettingsError(f"invalid setting ACCOUNTS_FILE: {exc}") from None
            environment_keys = {value for value in settings.secret_values() if value}
            for entry in entries:
                accounts.append(_file_account(settings, entry, environment_keys))
        self._accounts[id(settings)] = (settings, tuple(accounts))
        return tuple(accounts)

    def account_names(self, settings: Settings) -> tuple[str, ...]:
        return tuple(account.name for account in self.accounts(settings))

    def check_settings(self, settings: Settings) -> None:
        """Settings that name sources name registered ones, and the account file is usable (a
        one-line error otherwise)."""
        known = self.account_names(settings)
        if unknown := [name for name in settings.schedule_accounts if name not in known]:
            raise SettingsError(
                f"invalid setting SCHEDULE_ACCOUNTS: unknown account(s) {', '.join(unknown)}"
                f" (known: {', '.join(known) or 'none'})"
            )
        unknown = sorted(set(settings.revision_horizon_days) - set(self._sources))
        if unknown:
            raise SettingsError(
                f"invalid setting REVISION_HORIZON_DAYS: unknown source(s) {', '.join(unknown)}"
                f" (known: {', '.join(self._sources)})"
            )

    def configured(self, settings: Settings) -> list[str]:
        """Names of the sources the settings enable, in registry order."""
        return [source.name for source in self if source.enabled(settings)]


def _file_account(settings: Settings, entry: AccountEntry, taken: set[str]) -> Account:
    keys = entry.secrets()
    values = [secret.get_secret_value() for secret, _ in keys.values()]
    if any(value in taken for value in values):
        raise SettingsError(
            f"invalid setting ACCOUNTS_FILE: account {entry.name!r}: its secret is a key of the"
            " single-key settings (the account 'default') too"
        )
    redaction.remember(values)
    labels = {
        setting.upper(): f"account {entry.name}'s key ({source})"
        for setting, (_, source) in keys.items()
    }
    return Account(entry.name, entry.kind, account_settings(settings, entry), labels)


REGISTRY = SourceRegistry(UPSTREAMS)
