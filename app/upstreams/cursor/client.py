"""Cursor Admin API: daily usage (paged by users, ≤ 30-day windows), usage events (the
per-request ledger with cost, read one UTC day per chain), spend and team members."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar, cast

import httpx

from app.config import Settings
from app.ingestion.decoding import json_with_decimals
from app.ingestion.errors import MalformedPageError
from app.ingestion.factory import ClientKey, HttpParts
from app.ingestion.http import RequestStats, UpstreamHttp
from app.ingestion.pagination import (
    InconsistentChain,
    Page,
    convert_item,
    restartable,
    typed_page,
)
from app.ingestion.streamed import StreamedPage, streamed_page
from app.ingestion.windows import chunk_window
from app.upstreams.cursor.models import (
    CursorDailyRow,
    CursorDailyUsageEnvelope,
    CursorMember,
    CursorMemberSpend,
    CursorSpendPage,
    CursorUsageEvent,
    CursorUsageEventsPage,
)

MAX_WINDOW_DAYS = 30
DAILY_USAGE = "/teams/daily-usage-data"
MEMBERS = "/teams/members"
USAGE_EVENTS = "/teams/filtered-usage-events"
SPEND = "/teams/spend"
EVENTS_PAGE_SIZE = 1000  # the documented maximum
SPEND_PAGE_SIZE = 1000  # no documented maximum; one page for most teams
STALE_PAGES = 3  # daily-usage pages in a row with no new user, while more are promised
T = TypeVar("T")


class CursorEndpoint(StrEnum):
    """The requests this client makes, as metrics, logs and errors name them."""

    DAILY_USAGE = "daily-usage-data"
    USAGE_EVENTS = "filtered-usage-events"
    SPEND = "teams/spend"
    MEMBERS = "teams/members"


def _with_final(parts: Iterator[list[T]]) -> Iterator[tuple[list[T], bool]]:
    """Each part and whether it is the page's last; an empty page is one empty last part."""
    previous: list[T] | None = None
    for part in parts:
        if previous is not None:
            yield previous, False
        previous = part
    yield (previous if previous is not None else []), True


def day_start_ms(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)


def day_end_ms(day: date) -> int:
    """Last millisecond of a UTC day: right whether Cursor treats endDate as inclusive or not."""
    return day_start_ms(day + timedelta(days=1)) - 1


class CursorClient:
    upstream = "cursor"

    def __init__(
        self,
        http: UpstreamHttp,
        *,
        page_size: int = 500,
        page_rows: int = 5000,
        events_http: UpstreamHttp | None = None,
    ) -> None:
        self._http = http
        self._page_size = page_size
        self._page_rows = page_rows
        # Usage events have their own rate limit (60/min against the Admin API's 20/min).
        self._events_http = events_http or http

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
        for chunk_start, chunk_end in chunk_window(start, end, MAX_WINDOW_DAYS):
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
                endpoint=CursorEndpoint.DAILY_USAGE,
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
        daily = CursorEndpoint.DAILY_USAGE
        guard = self._http.chain_guard(daily, f"{chunk_start}..{chunk_end}")
        stale = 0
        while True:
            guard.page()
            fresh = 0  # users this page brings that no earlier page did
            where = f"{chunk_start}..{chunk_end} page {page_number}"
            page = await self._daily_page(
                (chunk_start, chunk_end), page_number, users, stats, where
            )
            pagination = cast(CursorDailyUsageEnvelope, page.envelope).pagination
            has_next = pagination is not None and pagination.hasNextPage
            if pagination is not None and pagination.totalUsers is not None:
                totals.add(pagination.totalUsers)
            on_page: set[int | str] = set()
            parts = page.parts()
            del page  # the parts hold the body until they are all taken
            taken = 0
            for index, (part, final) in enumerate(_with_final(parts)):
                taken += len(part)
                on_page |= {_identity(row) for row in part}
                rows = _unread(part, (chunk_start, chunk_end), seen)
                del part
                warning = None
                if final:
                    if has_next and not taken:
                        raise self._malformed(daily, where, "hasNextPage is true on an empty page")
                    fresh = len(on_page - seen)
                    seen |= on_page
                    if not has_next:
                        warning = _check_users(where, seen, totals, readings)
                yield Page(
                    rows,
                    page_number,
                    last=final and not has_next,
                    window=(chunk_start, chunk_end),
                    warning=warning,
                    continued=index > 0,
                )
                del rows
            if not has_next:
                return
            stale = self._going_round(stale + 1 if not fresh else 0, where)
            page_number += 1

    def _going_round(self, stale: int, where: str) -> int:
        """Pages that bring nobody new while more are promised: after a few, the chain is going
        round and fails its source."""
        if stale >= STALE_PAGES:
            raise self._malformed(
                CursorEndpoint.DAILY_USAGE,
                where,
                f"{stale} pages in a row repeat users already read, and hasNextPage is still true",
            )
        return stale

    async def _daily_page(
        self, chunk: tuple[date, date], number: int, users: int, stats: RequestStats, where: str
    ) -> StreamedPage[CursorDailyRow]:
        """One daily-usage page of a chunk, waiting on disk to be taken a part at a time."""
        page: StreamedPage[CursorDailyRow] = await self._http.request_json(
            "POST", DAILY_USAGE, endpoint=CursorEndpoint.DAILY_USAGE, stats=stats, context=where,
            json_body={"startDate": day_start_ms(chunk[0]), "endDate": day_end_ms(chunk[1]),
                       "page": number, "pageSize": users},
            decode=streamed_page(CursorDailyUsageEnvelope, "data", CursorDailyRow,
                                 upstream=self.upstream, endpoint=CursorEndpoint.DAILY_USAGE,
                                 where=where),
        )  # fmt: skip
        return page

    def _malformed(self, endpoint: CursorEndpoint, where: str, problem: str) -> MalformedPageError:
        """A page that breaks the documented shape: it fails its source, saying where."""
        return MalformedPageError(
            f"{self.upstream} {endpoint}{' ' + where if where else ''}: {problem}",
            upstream=self.upstream,
            endpoint=endpoint,
        )

    def usage_events(
        self, day: date, stats: RequestStats, *, until_ms: int | None = None
    ) -> AsyncIterator[Page[CursorUsageEvent]]:
        """Every usage event of one UTC day (both bounds inclusive, to the millisecond), capped
        at `until_ms` for a day still in progress.

        One day per chain: a day is complete when its chain ends, so its events are folded and
        dropped page by page, never held. Pages are by offset and there is no event id, so a
        chain whose `totalUsageEventsCount` moves between pages, or whose pages do not add up
        to it, is read again from page 1 (`restartable`)."""
        start_ms = day_start_ms(day)
        end_ms = day_end_ms(day) if until_ms is None else min(day_end_ms(day), until_ms)
        return restartable(
            lambda: self._events_chain(start_ms, end_ms, str(day), stats),
            upstream=self.upstream,
            endpoint=CursorEndpoint.USAGE_EVENTS,
            where=str(day),
        )

    async def _events_chain(
        self, start_ms: int, end_ms: int, day: str, stats: RequestStats
    ) -> AsyncIterator[Page[CursorUsageEvent]]:
        totals: set[int] = set()
        read = 0
        page_number = 1
        guard = self._http.chain_guard(CursorEndpoint.USAGE_EVENTS, day)
        while True:
            guard.page()
            where = f"{day} page {page_number}"
            page: CursorUsageEventsPage = await self._events_http.request_json(
                "POST", USAGE_EVENTS, endpoint=CursorEndpoint.USAGE_EVENTS, stats=stats,
                context=where,
                json_body={"startDate": start_ms, "endDate": end_ms, "page": page_number,
                           "pageSize": EVENTS_PAGE_SIZE},
                decode=typed_page(CursorUsageEventsPage, upstream=self.upstream,
                                  endpoint=CursorEndpoint.USAGE_EVENTS, where=where),
            )  # fmt: skip
            has_next = page.pagination.hasNextPage
            if has_next and not page.usageEvents:
                raise self._malformed(
                    CursorEndpoint.USAGE_EVENTS, where, "hasNextPage is true on an empty page"
                )
            if page.totalUsageEventsCount is not None:
                totals.add(page.totalUsageEventsCount)
            read += len(page.usageEvents)
            events = [e for e in page.usageEvents if start_ms <= e.timestamp <= end_ms]
            del page
            over = bool(has_next and totals and read >= max(totals))  # pages past the events
            if len(totals) > 1 or over or (not has_next and totals and read != min(totals)):
                raise InconsistentChain(
                    f"cursor filtered-usage-events {where}: {read} events read, "
                    f"totalUsageEventsCount said {', '.join(map(str, sorted(totals)))}"
                    " (events arrived while the day was read)",
                    upstream=self.upstream,
                    endpoint=CursorEndpoint.USAGE_EVENTS,
                )
            yield Page(events, page_number, last=not has_next)
            del events
            if not has_next:
                return
            page_number += 1

    async def spend(self, stats: RequestStats) -> tuple[int | None, list[CursorMemberSpend]]:
        """This billing cycle's spend per member, and the cycle's start (epoch ms)."""
        members: dict[str, CursorMemberSpend] = {}
        cycle_start: int | None = None
        page_number = 1
        guard = self._http.chain_guard(CursorEndpoint.SPEND, "")
        while True:
            guard.page()
            page = await self._http.request_json(
                "POST", SPEND, endpoint=CursorEndpoint.SPEND, stats=stats,
                context=f"page {page_number}",
                json_body={"page": page_number, "pageSize": SPEND_PAGE_SIZE},
                decode=typed_page(CursorSpendPage, upstream=self.upstream,
                                  endpoint=CursorEndpoint.SPEND, where=f"page {page_number}"),
            )  # fmt: skip
            cycle_start = page.subscriptionCycleStart or cycle_start
            for member in page.teamMemberSpend:  # a member shifted across pages: taken once
                members.setdefault(str(member.userId or member.email), member)
            if not page.teamMemberSpend or page_number >= (page.totalPages or 1):
                return cycle_start, list(members.values())
            page_number += 1

    async def members(self, stats: RequestStats) -> list[CursorMember]:
        raw = await self._http.request_json(
            "GET", MEMBERS, endpoint=CursorEndpoint.MEMBERS, stats=stats, decode=json_with_decimals
        )
        members = raw.get("teamMembers", raw) if isinstance(raw, dict) else raw
        if not isinstance(members, list):
            raise self._malformed(CursorEndpoint.MEMBERS, "", "expected a list of members")
        return [
            convert_item(
                CursorMember,
                item,
                upstream=self.upstream,
                endpoint=CursorEndpoint.MEMBERS,
                where="list",
            )
            for item in members
        ]


def _unread(
    part: list[CursorDailyRow], chunk: tuple[date, date], seen: set[int | str]
) -> list[CursorDailyRow]:
    """Rows of the chunk's days whose user no earlier page of this reading brought."""
    return [
        row for row in part if chunk[0] <= row.usage_date <= chunk[1] and _identity(row) not in seen
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
        endpoint=CursorEndpoint.DAILY_USAGE,
    )


def build_client(settings: Settings, parts: HttpParts) -> CursorClient | None:
    """The Cursor client, when CURSOR_API_KEY is set: usage events are limited on their own
    (60 a minute), apart from the other endpoints, behind one concurrency cap."""
    key = settings.cursor_api_key
    if key is None:
        return None
    concurrency = parts.concurrency()

    def http(per_minute: float) -> UpstreamHttp:
        return parts.http(
            upstream=CursorClient.upstream,
            base_url=str(settings.cursor_api_base_url),
            key_setting="CURSOR_API_KEY",
            auth=httpx.BasicAuth(key.get_secret_value(), ""),
            per_minute=per_minute,
            concurrency=concurrency,
        )

    return CursorClient(
        http(settings.cursor_requests_per_minute),
        page_size=settings.cursor_page_size,
        page_rows=settings.cursor_page_rows,
        events_http=http(settings.cursor_events_requests_per_minute),
    )


CURSOR_CLIENT: ClientKey[CursorClient] = ClientKey("cursor", build_client)
