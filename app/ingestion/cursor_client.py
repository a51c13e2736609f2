"""Cursor Admin API: daily usage (paged by users, ≤ 30-day windows) and team members."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta

from app.ingestion.http import MalformedPageError, RequestStats, UpstreamHttp
from app.ingestion.models import CursorDailyRow, CursorDailyUsagePage, CursorMember
from app.ingestion.pagination import (
    InconsistentChain,
    Page,
    fetch_json_page,
    parse_page,
    restartable,
)

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
        (`isActive: false`), so "no activity" is recorded rather than missing. Pages are by
        user offset, so a member joining or leaving between two page requests shifts users
        across pages: a user seen on an earlier page of the chunk is not taken again (never
        summed), and a chunk whose distinct users do not match `pagination.totalUsers` (or
        whose total moved) is read again from page 1 (`restartable`).
        """
        for chunk_start, chunk_end in chunk_window(start, end):
            users = self.users_per_page((chunk_end - chunk_start).days + 1)
            readings: list[Reading] = []  # what each reading of this chunk counted

            def chunk(
                first: date = chunk_start,
                last: date = chunk_end,
                size: int = users,
                counted: list[Reading] = readings,
            ) -> AsyncIterator[Page[CursorDailyRow]]:
                return self._chunk(first, last, size, stats, counted)

            async for page in restartable(
                chunk,
                upstream=self.upstream,
                endpoint="daily-usage-data",
                where=f"{chunk_start}..{chunk_end}",
            ):
                yield page
                del page  # not alive while the next one downloads

    async def _chunk(
        self,
        chunk_start: date,
        chunk_end: date,
        users: int,
        stats: RequestStats,
        readings: list[Reading],
    ) -> AsyncIterator[Page[CursorDailyRow]]:
        seen: set[int | str] = set()  # users of earlier pages of this reading
        totals: set[int] = set()
        page_number = 1
        while True:
            where = f"{chunk_start}..{chunk_end} page {page_number}"
            page = await fetch_json_page(
                self._http,
                "POST",
                DAILY_USAGE,
                CursorDailyUsagePage,
                endpoint="daily-usage-data",
                stats=stats,
                where=where,
                json_body={
                    "startDate": day_start_ms(chunk_start),
                    "endDate": day_end_ms(chunk_end),
                    "page": page_number,
                    "pageSize": users,
                },
            )
            has_next = page.pagination is not None and page.pagination.hasNextPage
            if has_next and not page.data:
                raise MalformedPageError(
                    f"cursor daily-usage-data {where}: hasNextPage is true on an empty page",
                    upstream=self.upstream,
                    endpoint="daily-usage-data",
                )
            if page.pagination is not None and page.pagination.totalUsers is not None:
                totals.add(page.pagination.totalUsers)
            on_page = {_identity(row) for row in page.data}
            rows = [
                row
                for row in page.data
                if chunk_start <= row.usage_date <= chunk_end and _identity(row) not in seen
            ]
            # Drop this page before the next request: one page in memory at a time.
            del page
            seen |= on_page
            warning = _check_users(where, seen, totals, readings) if not has_next else None
            yield Page(
                rows,
                page_number,
                last=not has_next,
                window=(chunk_start, chunk_end),
                warning=warning,
            )
            del rows
            if not has_next:
                return
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


def _identity(row: CursorDailyRow) -> int | str:
    """A user on the pages: their id, or (older answers without one) their email."""
    if row.userId is not None:
        return row.userId
    return f"email:{row.email}"


Reading = tuple[int, tuple[int, ...]]  # distinct users read, the totals the pages stated


def _check_users(
    where: str, seen: set[int | str], totals: set[int], readings: list[Reading]
) -> str | None:
    """The chunk listed every member exactly once, as the pagination says it has them.

    A mismatch is read again (members joined or left while the chunk was read). The documents
    do not say exactly whom `totalUsers` counts, so a mismatch that two readings in a row repeat
    exactly is not churn: it is accepted, and returned as a warning naming the counts."""
    if not totals:
        return None  # no pagination block: nothing to check against
    reading: Reading = (len(seen), tuple(sorted(totals)))
    stated = ", ".join(str(total) for total in reading[1])
    message = f"cursor daily-usage-data {where}: {len(seen)} distinct users read, "
    if len(totals) == 1 and len(seen) == reading[1][0]:
        return None
    if readings and readings[-1] == reading and len(totals) == 1:
        return message + f"pagination.totalUsers said {stated} in two readings; accepted"
    readings.append(reading)
    raise InconsistentChain(
        message + f"pagination.totalUsers said {stated} "
        "(members joined or left while the chunk was read)",
        upstream="cursor",
        endpoint="daily-usage-data",
    )
