"""What the Claude sources share within a run: the attribution directory and the day writer.

The directory (API keys of every status, users, workspaces and the key-owner mapping) is fetched
once per run, by whichever admin-key source asks first, and its requests count towards that
source. What the lists show is remembered first (`directory_users`, `directory_api_keys`), and
the directory is built from everything ever remembered: people who left still own their past.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.config import Settings
from app.orchestration.sources.contract import (
    KEY_EXPIRY,
    KEY_EXPIRY_WARNING,
    Shared,
    Source,
    SourceRun,
)
from app.processing.attribution import AttributionDirectory, KeyInfo, SeenUser, build_directory
from app.processing.emails import normalize_email
from app.repositories import directory as directory_repo
from app.repositories.day_writer import WriteCounts
from app.repositories.directory import KnownKey, SeenKey
from app.repositories.facts import CLAUDE_TABLE, ClaudeDayWrite, replace_claude_days
from app.upstreams.anthropic.categorization import WorkspaceCategories
from app.upstreams.anthropic.client import AnthropicClient
from app.upstreams.anthropic.clients import ANTHROPIC_CLIENTS
from app.upstreams.anthropic.facts import ClaudeFact, ClaudeLabel, fold_duplicates
from app.upstreams.anthropic.key_expiry import our_key_expiries
from app.upstreams.anthropic.models import ApiKey


class AdminApiSource(Source):
    """A source read with the Admin API key from its usage and cost reports, which the
    reference says are restated for a day or two."""

    table = CLAUDE_TABLE
    revision_horizon = timedelta(days=2)

    def enabled(self, settings: Settings) -> bool:
        return settings.anthropic_admin_api_key is not None

    @staticmethod
    def client(run: SourceRun) -> AnthropicClient:
        client = run.client(ANTHROPIC_CLIENTS).admin
        if client is None:  # enabled() holds whenever the source is in a run
            raise RuntimeError("ANTHROPIC_ADMIN_API_KEY is not set")
        return client


@dataclass(frozen=True)
class ClaudeContext:
    directory: AttributionDirectory
    categories: WorkspaceCategories


CLAUDE_CONTEXT: Shared[asyncio.Task[ClaudeContext]] = Shared("claude_context")
DIRECT_DIRECTORY: Shared[AttributionDirectory] = Shared("direct_directory")


async def claude_context(run: SourceRun) -> ClaudeContext:
    """The run's directory, loaded once and shared by every admin-key source."""
    task: asyncio.Task[ClaudeContext] = run.shared(
        CLAUDE_CONTEXT, lambda first: asyncio.create_task(_load_context(first))
    )
    return await asyncio.shield(task)


async def _load_context(run: SourceRun) -> ClaudeContext:
    """This run's lists, remembered, then the directory of everything ever remembered."""
    anthropic = AdminApiSource.client(run)
    keys, users, workspaces = await asyncio.gather(
        anthropic.api_keys(run.stats), anthropic.users(run.stats), anthropic.workspaces(run.stats)
    )
    _watch_key_expiry(run, keys)
    async with run.pool.acquire() as connection:
        await directory_repo.remember_users(
            connection,
            run.account,
            [SeenUser(u.id, normalize_email(u.email), u.name) for u in users],
            complete=True,
        )
        await directory_repo.remember_keys(
            connection, run.account, [_seen_key(key) for key in keys]
        )
        await directory_repo.pin_owner_names(connection, run.account)
        owners = await directory_repo.key_owners(connection, run.account)
        known_users = await directory_repo.remembered_users(connection, run.account)
        known_keys = await directory_repo.remembered_keys(connection, run.account)
        persisted = await directory_repo.claude_code_workspace_ids(connection, run.account)
    categories = WorkspaceCategories.build(
        configured_ids=run.settings.claude_code_workspace_ids,
        listed=[(workspace.id, workspace.name) for workspace in workspaces],
        persisted_ids=persisted,
        claude_code_keys={
            known.seen.api_key_id: known.claude_code_since
            for known in known_keys
            if known.claude_code_since is not None
        },
    )
    async with run.pool.acquire() as connection:
        await directory_repo.remember_workspaces(
            connection,
            run.account,
            [(w.id, w.name, w.archived_at, w.id in categories.claude_code_ids) for w in workspaces],
        )
    directory = build_directory(
        confidences=run.settings.confidences,
        users=known_users,
        keys=[_key_info(known) for known in known_keys],
        owners=[(o.api_key_id, o.key_name, o.owner_email) for o in owners],
    )
    return ClaudeContext(directory, categories)


ANTHROPIC_KEY_SETTINGS = (
    "anthropic_admin_api_key",
    "anthropic_compliance_api_key",
    "anthropic_analytics_api_key",
)


def _watch_key_expiry(run: SourceRun, keys: list[ApiKey]) -> None:
    """Our keys' expiry, where the keys list says it: in the source's details (GET /sources
    shows it), and a warning within 14 days of it."""
    configured = {
        name.upper(): secret.get_secret_value()
        for name in ANTHROPIC_KEY_SETTINGS
        if (secret := getattr(run.settings, name)) is not None
    }
    expiries = our_key_expiries(keys, configured)
    if expiries:
        run.record(
            KEY_EXPIRY, {expiry.setting: expiry.expires_at.isoformat() for expiry in expiries}
        )
    now = datetime.now(UTC)
    for expiry in (e for e in expiries if e.expires_at - now <= KEY_EXPIRY_WARNING):
        run.warn(
            f"{expiry.setting} (key {expiry.key_id}) expires {expiry.expires_at:%Y-%m-%d %H:%M}"
            " UTC: create a new key and rotate it before then (an expired key answers 401 and"
            " cannot be reactivated)"
        )


def _seen_key(key: ApiKey) -> SeenKey:
    principal = key.principal
    return SeenKey(
        key.id,
        key.name,
        key.workspace_id,
        key.created_by.id if key.created_by is not None else None,
        principal.type if principal is not None else None,
        principal.id if principal is not None else None,
        key.status,
    )


def _key_info(known: KnownKey) -> KeyInfo:
    """The user a key acts as (its principal) or, failing that, the user who created it."""
    key = known.seen
    owner = key.created_by_user_id
    if key.principal_id is not None and key.principal_type in (None, "user"):
        owner = key.principal_id
    return KeyInfo(
        key.api_key_id, key.name, key.workspace_id, owner, known.names, known.claude_code_since
    )


def direct_directory(run: SourceRun) -> AttributionDirectory:
    """For rows that name their person (Cursor, claude.ai): no upstream lists needed."""
    directory: AttributionDirectory = run.shared(
        DIRECT_DIRECTORY, lambda first: build_directory(confidences=first.settings.confidences)
    )
    return directory


async def write_claude_day(
    run: SourceRun, day: date, writes: list[ClaudeDayWrite]
) -> dict[ClaudeLabel, WriteCounts]:
    """Several Claude sources' complete rows of one day, folded, in one transaction."""
    folded = [ClaudeDayWrite(w.source, fold_duplicates(w.facts), w.keep_if_emptied) for w in writes]
    async with run.pool.acquire() as connection:
        return await replace_claude_days(connection, run.account, day, folded, run.scope.run_id)


async def write_one_claude_source(
    run: SourceRun,
    day: date,
    source: ClaudeLabel,
    facts: list[ClaudeFact],
    *,
    suspect: bool = False,
) -> None:
    """One Claude source's complete rows of one day, counted in the run's progress. A
    `suspect` empty day (see the shrink guard) leaves rows the day holds as they are."""
    keep = run.shrink.keeps(suspect)
    counts = await write_claude_day(run, day, [ClaudeDayWrite(source, facts, keep)])
    run.written(counts[source], day)
