"""Cursor Admin API daily usage → `fact_cursor_daily_usage`.

Pages hold users across every day of a window chunk (at most 30 days), so a day is complete
only at the end of its chunk: pages are spooled to disk by day and written day by day then.
"""

from __future__ import annotations

from datetime import timedelta

from app.config import Settings
from app.orchestration.sources.claude_shared import direct_directory
from app.orchestration.sources.contract import Source, SourceRun, days_between
from app.processing import transform
from app.repositories.cursor_window import CursorWindow
from app.repositories.facts import CURSOR_TABLE


class CursorSource(Source):
    name = "cursor"
    table = CURSOR_TABLE
    # Aggregated hourly, finalisation undocumented: the reference re-pulls the last 2-3 days.
    revision_horizon = timedelta(days=3)

    def enabled(self, settings: Settings) -> bool:
        return settings.cursor_api_key is not None

    async def ingest(self, run: SourceRun) -> None:
        client = run.clients.cursor
        if client is None:  # enabled() holds whenever the source is in a run
            raise RuntimeError("CURSOR_API_KEY is not set")
        directory = direct_directory(run)
        with CursorWindow() as window:
            pages = client.daily_usage(run.scope.start, run.scope.end, run.stats)
            async for page in run.pages(pages):
                facts = [transform.cursor_fact(row, directory) for row in page.items]
                kept = [fact for fact in facts if fact is not None]
                run.skipped(len(facts) - len(kept))
                window.add(kept)
                del facts, kept  # spooled: nothing of a page stays alive while the next downloads
                if page.last and page.window is not None:  # the chunk's days are complete
                    for day in days_between(*page.window):
                        async with run.pool.acquire() as connection:
                            run.written(await window.write_day(connection, day, run.scope.run_id))
                    window.clear()
                del page
