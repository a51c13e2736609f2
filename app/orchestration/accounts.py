"""Accounts as the API, the CLI and the metrics see them: every configured (account, source),
accounts whose data no configuration names, and renaming an account in the data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from app.accounts import ACCOUNT_NAME, AccountSource
from app.config import Settings
from app.orchestration.run_request import InvalidRunRequest, chosen_accounts
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.repositories import accounts as accounts_repo
from app.repositories import coverage as coverage_repo


class AccountRenameError(ValueError):
    """The rename cannot be done; the message says why in one line."""


def configured_parts(
    settings: Settings,
    accounts: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    registry: SourceRegistry = REGISTRY,
) -> list[AccountSource]:
    """The (account, source)s of the accounts asked (default: every configured one, in their
    order; an unknown one is `InvalidRunRequest`): each account's configured sources, or the
    `sources` named (shown even where an account no longer configures one: its past)."""
    return [
        AccountSource(account.name, source)
        for account in chosen_accounts(settings, accounts, registry)
        for source in (sources or registry.configured(account.settings))
    ]


async def coverage_parts(
    connection: asyncpg.Connection,
    settings: Settings,
    accounts: Sequence[str] | None,
    sources: Sequence[str] | None,
    start: date,
    end: date,
    registry: SourceRegistry = REGISTRY,
) -> list[AccountSource]:
    """What a coverage answer shows: the configured (account, source)s asked for
    (`configured_parts`), then every other one the ledger holds a day of in the range — an
    account or source no configuration names any more, or all of them where this process
    configures none (a CLI in a shell without the service's keys). An account asked for that
    is neither configured nor in the ledger is `InvalidRunRequest`."""
    held = await coverage_repo.parts_with_days(connection, start, end)
    configured_names = set(registry.account_names(settings))
    asked = list(accounts or ())
    if unknown := sorted(set(asked) - configured_names - {part.account for part in held}):
        known = ", ".join(sorted(configured_names | {part.account for part in held})) or "none"
        raise InvalidRunRequest(f"unknown account(s): {', '.join(unknown[:10])} (known: {known})")
    chosen = [name for name in asked if name in configured_names]
    shown = configured_parts(settings, chosen, sources, registry) if chosen or not asked else []
    return shown + [
        part
        for part in held
        if part not in shown
        and (not asked or part.account in asked)
        and (not sources or part.source in sources)
    ]


async def unconfigured_accounts(
    pool: asyncpg.Pool, settings: Settings, registry: SourceRegistry = REGISTRY
) -> list[str]:
    """Accounts the data holds that no configuration names: a renamed account's old name (see
    `usage-pipeline accounts rename`), or one removed from the file."""
    async with pool.acquire() as connection:
        stored = await coverage_repo.accounts_with_data(connection)
    configured = set(registry.account_names(settings))
    return [name for name in stored if name not in configured]


async def rename_account(connection: asyncpg.Connection, old: str, new: str) -> dict[str, int]:
    """Rename an account in every table, in one transaction; rows renamed per table. A name
    that is not an account name, or one that holds data already, is `AccountRenameError`."""
    if not ACCOUNT_NAME.fullmatch(new):
        raise AccountRenameError(
            f"{new!r} is not an account name (1-40 lower-case letters, digits, '-' or '_')"
        )
    try:
        return await accounts_repo.rename(connection, old, new)
    except accounts_repo.AccountTaken as exc:
        raise AccountRenameError(str(exc)) from None
