"""What the Claude sources share within a run: the attribution directory and the day writer.

The directory (API keys, users, workspaces and the key-owner mapping) is fetched once per run,
by whichever admin-key source asks first, and its requests count towards that source.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

from app.config import Settings
from app.ingestion.anthropic_client import AnthropicClient
from app.ingestion.models import ApiKey
from app.orchestration.sources.contract import Source, SourceRun
from app.processing.attribution import AttributionDirectory, KeyInfo, build_directory
from app.processing.categorization import WorkspaceCategories
from app.processing.facts import ClaudeFact, ClaudeSource, fold_duplicates
from app.repositories import directory as directory_repo
from app.repositories.facts import (
    CLAUDE_TABLE,
    ClaudeDayWrite,
    WriteCounts,
    replace_claude_days,
)


class AdminApiSource(Source):
    """A source read with the Admin API key from its usage and cost reports, which the
    reference says are restated for a day or two."""

    table = CLAUDE_TABLE
    revision_horizon = timedelta(days=2)

    def enabled(self, settings: Settings) -> bool:
        return settings.anthropic_admin_api_key is not None

    @staticmethod
    def client(run: SourceRun) -> AnthropicClient:
        client = run.clients.anthropic
        if client is None:  # enabled() holds whenever the source is in a run
            raise RuntimeError("ANTHROPIC_ADMIN_API_KEY is not set")
        return client


@dataclass(frozen=True)
class ClaudeContext:
    directory: AttributionDirectory
    categories: WorkspaceCategories


async def claude_context(run: SourceRun) -> ClaudeContext:
    """The run's directory, loaded once and shared by every admin-key source."""
    task: asyncio.Task[ClaudeContext] = run.shared(
        "claude_context", lambda first: asyncio.create_task(_load_context(first))
    )
    return await asyncio.shield(task)


async def _load_context(run: SourceRun) -> ClaudeContext:
    anthropic = AdminApiSource.client(run)
    async with run.pool.acquire() as connection:
        owners = await directory_repo.key_owners(connection)
        persisted = await directory_repo.claude_code_workspace_ids(connection)
    keys, users, workspaces = await asyncio.gather(
        anthropic.api_keys(run.stats), anthropic.users(run.stats), anthropic.workspaces(run.stats)
    )
    categories = WorkspaceCategories.build(
        configured_ids=run.settings.claude_code_workspace_ids,
        listed=[(workspace.id, workspace.name) for workspace in workspaces],
        persisted_ids=persisted,
    )
    async with run.pool.acquire() as connection:
        await directory_repo.remember_workspaces(
            connection,
            [(w.id, w.name, w.archived_at, w.id in categories.claude_code_ids) for w in workspaces],
        )
    directory = build_directory(
        confidences=run.settings.confidences,
        users=[(user.id, user.email) for user in users],
        keys=[KeyInfo(key.id, key.name, key.workspace_id, _owner_user_id(key)) for key in keys],
        owners=[(o.api_key_id, o.key_name, o.owner_email) for o in owners],
    )
    return ClaudeContext(directory, categories)


def _owner_user_id(key: ApiKey) -> str | None:
    """The user a key acts as (its principal) or, failing that, the user who created it."""
    if key.principal is not None and key.principal.type in (None, "user"):
        return key.principal.id
    return key.created_by.id if key.created_by is not None else None


def direct_directory(run: SourceRun) -> AttributionDirectory:
    """For rows that name their person (Cursor, claude.ai): no upstream lists needed."""
    directory: AttributionDirectory = run.shared(
        "direct_directory", lambda first: build_directory(confidences=first.settings.confidences)
    )
    return directory


async def write_claude_day(
    run: SourceRun, day: date, writes: list[ClaudeDayWrite]
) -> dict[ClaudeSource, WriteCounts]:
    """Several Claude sources' complete rows of one day, folded, in one transaction."""
    folded = [ClaudeDayWrite(w.source, fold_duplicates(w.facts), w.keep_if_emptied) for w in writes]
    async with run.pool.acquire() as connection:
        return await replace_claude_days(connection, day, folded, run.scope.run_id)


async def write_one_claude_source(
    run: SourceRun,
    day: date,
    source: ClaudeSource,
    facts: list[ClaudeFact],
    *,
    suspect: bool = False,
) -> None:
    """One Claude source's complete rows of one day, counted in the run's progress. A
    `suspect` empty day (see the shrink guard) leaves rows the day holds as they are."""
    keep = suspect and not run.settings.allow_empty_day_replacement
    counts = await write_claude_day(run, day, [ClaudeDayWrite(source, facts, keep)])
    run.written(counts[source], day)
    if counts[source].kept:
        run.warn(f"{day}: came back empty while other days had rows; kept")
