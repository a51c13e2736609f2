"""Cursor Admin API: daily usage (paged by users, ≤ 30-day windows) and team members."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta

from app.ingestion.http import MalformedPageError, RequestStats, UpstreamHttp
from app.ingestion.models import CursorDailyRow, CursorDailyUsagePage, CursorMember
from app.ingestion.pagination import Page, json_page, parse_page

MAX_WINDOW_DAYS = 30
DAILY_USAGE = "/teams/daily-usage-data"
MEMBERS = "/teams/members"


def chunk_window(
    start: date, end: date, days: int = MAX_WINDOW_DAYS
) -> Iterator[tuple[date, date]]:
    """Split [start, end] (inclusive days) into consecutive chunks of at most `days` days."""
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + timedelta(days=days - 1))
        yield chunk_start, chunk_end
        chunk_start = chunk_end + timedelta(days=1)


def day_start_ms(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)


def day_end_ms(day: date) -> int:
    """Last millisecond of a UTC day: right whether Cursor treats endDate as inclusive or not."""
    return day_start_ms(day + timedelta(days=1)) - 1


class CursorClient:
    upstream = "cursor"

    def __init__(self, http: UpstreamHttp, *, page_size: int = 500, page_rows: int = 5000) -> None:
        self._http = http
        self._page_size = page_size
        self._page_rows = page_rows

    def users_per_page(self, days: int) -> int:
        """A page carries users × days rows: ask for fewer users over longer windows, so a
        page — and the memory it takes — stays near `page_rows` rows."""
        return max(1, min(self._page_size, self._page_rows // days))

    async def daily_usage(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[CursorDailyRow]]:
        """Pages of rows for every member and day in [start, end]; `last` ends each chunk.

        Pagination mode is always used: it lists every member, including all-zero days
        (`isActive: false`), so "no activity" is recorded rather than missing.
        """
        for chunk_start, chunk_end in chunk_window(start, end):
            users = self.users_per_page((chunk_end - chunk_start).days + 1)
            page_number = 1
            while True:
                where = f"{chunk_start}..{chunk_end} page {page_number}"
                page: CursorDailyUsagePage = await self._http.request_json(
                    "POST",
                    DAILY_USAGE,
                    endpoint="daily-usage-data",
                    stats=stats,
                    json_body={
                        "startDate": day_start_ms(chunk_start),
                        "endDate": day_end_ms(chunk_end),
                        "page": page_number,
                        "pageSize": users,
                    },
                    context=where,
                    decode=json_page(
                        CursorDailyUsagePage,
                        upstream=self.upstream,
                        endpoint="daily-usage-data",
                        where=where,
                    ),
                )
                has_next = page.pagination is not None and page.pagination.hasNextPage
                if has_next and not page.data:
                    raise MalformedPageError(
                        f"cursor daily-usage-data {where}: hasNextPage is true on an empty page",
                        upstream=self.upstream,
                        endpoint="daily-usage-data",
                    )
                rows = [row for row in page.data if chunk_start <= row.usage_date <= chunk_end]
                # Drop this page before the next request: one page in memory at a time.
                del page
                yield Page(rows, page_number, last=not has_next, window=(chunk_start, chunk_end))
                del rows
                if not has_next:
                    break
                page_number += 1

    async def members(self, stats: RequestStats) -> list[CursorMember]:
        raw = await self._http.request_json("GET", MEMBERS, endpoint="teams/members", stats=stats)
        members = raw.get("teamMembers", raw) if isinstance(raw, dict) else raw
        if not isinstance(members, list):
            raise MalformedPageError(
                "cursor teams/members: expected a list of members",
                upstream=self.upstream,
                endpoint="teams/members",
            )
        return [
            parse_page(
                CursorMember, item, upstream=self.upstream, endpoint="teams/members", where="list"
            )
            for item in members
        ]
