"""Cursor Admin API daily usage → `fact_cursor_daily_usage`.

Pages hold users across every day of a window chunk (at most 30 days), so a day is complete
only at the end of its chunk: pages are spooled to disk by day and written day by day then. A
chunk read again from page 1 (a rejected page, members joining or leaving mid-chunk) discards
what was spooled of it. A row the table cannot take (a removed member's null email) is skipped
and counted; a day of the chunk that comes back empty while others have rows is not applied
(the shrink guard).
"""

from __future__ import annotations

from datetime import date, timedelta

from app.config import Settings
from app.logs import get_logger
from app.orchestration.sources.contract import Source, SourceRun, days_between
from app.processing.attribution import AttributionDirectory
from app.repositories.cursor_window import CursorWindow
from app.repositories.facts import CURSOR_TABLE
from app.upstreams.anthropic.sources.shared import direct_directory
from app.upstreams.cursor import transform
from app.upstreams.cursor.client import CURSOR_CLIENT, CursorClient
from app.upstreams.cursor.facts import CursorFact
from app.upstreams.cursor.models import CursorDailyRow

log = get_logger(__name__)

MISSING_EMAIL = "missing email"


class CursorApiSource(Source):
    """A source read with the Cursor Admin API key into `fact_cursor_daily_usage`."""

    table = CURSOR_TABLE
    # Aggregated hourly, finalisation undocumented: the reference re-pulls the last 2-3 days.
    revision_horizon = timedelta(days=3)

    def enabled(self, settings: Settings) -> bool:
        return settings.cursor_api_key is not None

    @staticmethod
    def client(run: SourceRun) -> CursorClient:
        return run.client(CURSOR_CLIENT)


class CursorSource(CursorApiSource):
    name = "cursor"

    async def ingest(self, run: SourceRun) -> None:
        client = self.client(run)
        directory = direct_directory(run)
        with CursorWindow() as window:
            pages = client.daily_usage(run.start, run.end, run.stats)
            async for page in run.pages(pages):
                if page.restarted:
                    window.clear()  # the chunk is read again from its first page
                if page.warning is not None:
                    run.warn(page.warning)
                window.add(_facts(run, page.items, directory))
                if page.last and page.window is not None:  # the chunk's days are complete
                    await _write_chunk(run, window, days_between(*page.window))
                    window.clear()
                del page  # spooled: nothing of a page stays alive while the next downloads


def _facts(
    run: SourceRun, rows: list[CursorDailyRow], directory: AttributionDirectory
) -> list[CursorFact]:
    facts = []
    for row in rows:
        fact = transform.cursor_fact(row, directory)
        if fact is None:
            run.skipped(MISSING_EMAIL)
            log.warning("row skipped", reason=MISSING_EMAIL, cursor_user_id=row.userId)
            continue
        facts.append(fact)
    return facts


async def _write_chunk(run: SourceRun, window: CursorWindow, days: list[date]) -> None:
    # An empty day of the chunk is suspect when another day of it has rows.
    guard = run.shrink.keeps(any(map(window.has_rows, days)))
    for day in days:
        async with run.pool.acquire() as connection:
            counts = await window.write_day(connection, run.account, day, run.scope.run_id, guard)
        run.written(counts, day)
