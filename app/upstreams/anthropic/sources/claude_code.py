"""Claude Code analytics (`usage_report/claude_code`) → `fact_claude_daily_usage`, day by day.

The source also learns Claude Code keys: a key the analytics name as an `api_actor` is a Claude
Code key from that day on (`ClaudeCodeKeys`), so the messages report's rows of that key are
`claude_code` whatever their workspace. The usage source of the same run waits for a day to be
read here before it places that day's rows, so one run places them the same as any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import date

from app.orchestration.sources.contract import Shared, SourceRun
from app.repositories import directory as directory_repo
from app.upstreams.anthropic import transform
from app.upstreams.anthropic.facts import ClaudeFact, ClaudeLabel
from app.upstreams.anthropic.sources.shared import (
    AdminApiSource,
    claude_context,
    write_one_claude_source,
)


class ClaudeCodeSource(AdminApiSource):
    name = "claude_code"

    async def ingest(self, run: SourceRun) -> None:
        keys = ClaudeCodeKeys.of(run)
        try:
            await self._ingest(run, keys)
        finally:
            keys.finish()

    async def _ingest(self, run: SourceRun, keys: ClaudeCodeKeys) -> None:
        client = self.client(run)
        context = await claude_context(run)
        for day in run.days:
            facts: list[ClaudeFact] = []
            named: set[str] = set()
            async for page in run.pages(client.claude_code_day(day, run.stats)):
                if page.restarted:
                    facts, named = [], set()
                for record in page.items:
                    facts.extend(transform.claude_code_facts(record, context.directory))
                named |= transform.claude_code_key_ids(page.items, context.directory)
                del page  # not alive while the next one downloads or the day is written
            await keys.learn(run, day, named)
            await write_one_claude_source(run, day, ClaudeLabel.CLAUDE_CODE_ANALYTICS, facts)


class ClaudeCodeKeys:
    """Claude Code keys learned in this run, and which of the source's days are read."""

    def __init__(self, days: Iterable[date] | None) -> None:
        self._unread = set(days or ())
        self._learned: dict[str, date] = {}
        self._changed = asyncio.Event()

    @classmethod
    def of(cls, run: SourceRun) -> ClaudeCodeKeys:
        """The run's one instance; without the Claude Code source in the run, nothing to wait
        for (keys learned by earlier runs are in the directory)."""
        return run.shared(
            CLAUDE_CODE_KEYS, lambda first: cls(first.scope.days_of.get(ClaudeCodeSource.name))
        )

    async def learn(self, run: SourceRun, day: date, key_ids: Iterable[str]) -> None:
        """Remember the keys named on `day` (the earliest day wins), then mark it read."""
        first_named = {
            key_id: min(self._learned.get(key_id, day), day) for key_id in sorted(key_ids)
        }
        if first_named:
            async with run.pool.acquire() as connection:
                await directory_repo.learn_claude_code_keys(connection, run.account, first_named)
            self._learned.update(first_named)
        self._read(day)

    def _read(self, day: date) -> None:
        self._unread.discard(day)
        self._changed.set()
        self._changed = asyncio.Event()

    def finish(self) -> None:
        """The source ended (read, failed or cancelled): nobody waits for it any more."""
        self._unread.clear()
        self._changed.set()

    async def settled(self, day: date) -> Mapping[str, date]:
        """The keys learned so far, once `day` is read (or will not be) in this run."""
        while day in self._unread:
            await self._changed.wait()
        return dict(self._learned)


CLAUDE_CODE_KEYS: Shared[ClaudeCodeKeys] = Shared("claude_code_keys")
