"""Anthropic Admin API (and the claude.ai-side Compliance and Enterprise Analytics APIs).

Report endpoints use an opaque `page` cursor; every original parameter is re-sent with it.
A cursor the upstream rejects (HTTP 400) restarts the chain once; the first page after a
restart carries `restarted=True` so consumers discard what they buffered from that chain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import GenericAlias
from typing import TypeVar, cast

from app.ingestion.errors import MalformedPageError
from app.ingestion.http import RequestStats, UpstreamHttp
from app.ingestion.pagination import Page, fetch_page, restartable
from app.logs import get_logger
from app.upstreams.anthropic.models import (
    ApiKey,
    ClaudeCodePage,
    ClaudeCodeRecord,
    CostBucket,
    CostReportPage,
    ListPage,
    MessagesUsageBucket,
    MessagesUsagePage,
    OrgUser,
    PageOf,
    Workspace,
)

log = get_logger(__name__)

ANTHROPIC_VERSION = "2023-06-01"
MESSAGES_GROUP_BY = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    # OAuth (the person's own `user_…` account) and OIDC federation: attributable without a key.
    "account_id",
    "service_account_id",
)
COST_GROUP_BY = ("workspace_id", "description")
# The documented maximum of daily buckets per page: a 30-day report is one request where the
# upstream puts it in one page. How many results a page carries is the upstream's choice;
# ANTHROPIC_REPORT_DAYS_PER_PAGE lowers this for an organisation whose days are very large.
REPORT_BUCKET_LIMIT = 31
CLAUDE_CODE_LIMIT = 1000
LIST_LIMIT = 1000
ACTIVITY_LIMIT = 5000  # the documented maximum: fewer round trips for a busy org
ANALYTICS_MAX_SPAN_DAYS = 31
ANALYTICS_FIRST_DAY = date(2026, 1, 1)
# The documents allow all four; the list's default is not documented, so each is asked for.
API_KEY_STATUSES = ("active", "inactive", "archived", "expired")

M = TypeVar("M")
B = TypeVar("B")  # a daily bucket
Params = list[tuple[str, str | int]]


class AnthropicEndpoint(StrEnum):
    """The requests this client makes, as metrics, logs and errors name them."""

    CLAUDE_CODE = "usage_report/claude_code"
    MESSAGES_USAGE = "usage_report/messages"
    COST_REPORT = "cost_report"
    API_KEYS = "api_keys"
    USERS = "users"
    WORKSPACES = "workspaces"
    COMPLIANCE_ACTIVITIES = "compliance/activities"
    ANALYTICS_USER_USAGE = "analytics/user_usage_report"
    ANALYTICS_USER_COST = "analytics/user_cost_report"
    ANALYTICS_ORG_USAGE = "analytics/usage_report"
    ANALYTICS_ORG_COST = "analytics/cost_report"


def rfc3339(day: date) -> str:
    return datetime.combine(day, time.min, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def anthropic_headers(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}


class AnthropicClient:
    upstream = "anthropic"

    def __init__(self, http: UpstreamHttp, *, report_days_per_page: int = REPORT_BUCKET_LIMIT):
        self._http = http
        self._report_days_per_page = report_days_per_page

    def _cursor_chain(
        self,
        path: str,
        endpoint: str,
        params: Params,
        model: type[M],
        stats: RequestStats,
        window: str,
    ) -> AsyncIterator[tuple[M, Page[object]]]:
        """Follow `next_page`, from page 1 again if the upstream rejects a cursor (see
        `restartable`)."""
        pages: dict[int, M] = {}  # the page behind each Page yielded, until it is taken

        async def chain() -> AsyncIterator[Page[object]]:
            cursor: str | None = None
            number = 0
            guard = self._http.chain_guard(endpoint, window)
            while True:
                guard.page()
                where = f"{window} page {number + 1}"
                request = params + ([("page", cursor)] if cursor else [])
                page = await fetch_page(
                    self._http, "GET", path, model, endpoint=endpoint, stats=stats, where=where,
                    params=request,
                )  # fmt: skip
                number += 1
                next_page = getattr(page, "next_page", None)
                has_more = getattr(page, "has_more", None)
                if has_more is None:  # some analytics endpoints only send next_page
                    has_more = bool(next_page)
                if has_more and not next_page:
                    raise MalformedPageError(
                        f"anthropic {endpoint} {where}: has_more is true but next_page is empty",
                        upstream=self.upstream,
                        endpoint=endpoint,
                    )
                pages[number] = page
                del page  # one page in memory at a time
                yield Page([], number, last=not has_more)
                if not has_more:
                    return
                guard.advance(next_page)
                cursor = next_page

        return self._with_pages(
            restartable(chain, upstream=self.upstream, endpoint=endpoint, where=window), pages
        )

    @staticmethod
    async def _with_pages(
        chain: AsyncIterator[Page[object]], pages: dict[int, M]
    ) -> AsyncIterator[tuple[M, Page[object]]]:
        async for meta in chain:
            page = pages.pop(meta.number)
            yield page, meta
            del page  # not alive while the next one downloads

    async def claude_code_day(
        self, day: date, stats: RequestStats
    ) -> AsyncIterator[Page[ClaudeCodeRecord]]:
        """All Claude Code records of one UTC day (the endpoint has no range parameter)."""
        params: Params = [("starting_at", day.isoformat()), ("limit", CLAUDE_CODE_LIMIT)]
        async for page, meta in self._cursor_chain(
            "/v1/organizations/usage_report/claude_code",
            AnthropicEndpoint.CLAUDE_CODE,
            params,
            ClaudeCodePage,
            stats,
            str(day),
        ):
            records = [record for record in page.data if record.date == day]
            del page
            yield Page(records, meta.number, meta.restarted, meta.last)
            del records

    async def _daily_buckets(
        self,
        path: str,
        endpoint: str,
        page_model: type[PageOf[B]],
        group_by: tuple[str, ...],
        start: date,
        end: date,
        stats: RequestStats,
    ) -> AsyncIterator[Page[B]]:
        """Daily buckets for [start, end], oldest first, empty days kept."""
        params: Params = [
            ("starting_at", rfc3339(start)),
            ("ending_at", rfc3339(end + timedelta(days=1))),
            ("bucket_width", "1d"),
            ("limit", self._report_days_per_page),
            *[("group_by[]", dimension) for dimension in group_by],
        ]
        chain = self._cursor_chain(
            path,
            endpoint,
            params,
            page_model,
            stats,
            f"{start}..{end}",
        )
        async for page, meta in chain:
            data = page.data
            del page
            yield Page(data, meta.number, meta.restarted, meta.last)
            del data

    def messages_usage(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[MessagesUsageBucket]]:
        return self._daily_buckets(
            "/v1/organizations/usage_report/messages",
            AnthropicEndpoint.MESSAGES_USAGE,
            MessagesUsagePage,
            MESSAGES_GROUP_BY,
            start,
            end,
            stats,
        )

    def cost_report(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[CostBucket]]:
        return self._daily_buckets(
            "/v1/organizations/cost_report",
            AnthropicEndpoint.COST_REPORT,
            CostReportPage,
            COST_GROUP_BY,
            start,
            end,
            stats,
        )

    async def _list_all(
        self, path: str, endpoint: str, item: type[M], stats: RequestStats, extra: Params
    ) -> list[M]:
        """Directory lists are small; they are collected whole for attribution lookups (from
        the start again if the upstream rejects an `after_id`)."""

        async def chain() -> AsyncIterator[Page[M]]:
            after: str | None = None
            number = 0
            guard = self._http.chain_guard(endpoint, "list")
            while True:
                guard.page()
                number += 1
                params = [("limit", LIST_LIMIT), *extra] + ([("after_id", after)] if after else [])
                page: ListPage[M] = await fetch_page(
                    self._http,
                    "GET",
                    path,
                    cast(type[ListPage[M]], GenericAlias(ListPage, (item,))),  # ListPage[item]
                    endpoint=endpoint,
                    stats=stats,
                    where=f"after {after or 'start'}",
                    params=params,
                )
                yield Page(list(page.data), number, last=not page.has_more)
                if not page.has_more:
                    return
                guard.advance(page.last_id, "last_id")
                after = page.last_id

        items: list[M] = []
        async for page in restartable(
            chain, upstream=self.upstream, endpoint=endpoint, where="list"
        ):
            if page.restarted:
                items = []
            items.extend(page.items)
        return items

    async def api_keys(self, stats: RequestStats) -> list[ApiKey]:
        """Keys of every status: a key whose owner left is inactive or archived, and its past
        usage still needs its owner."""
        keys: dict[str, ApiKey] = {}
        for status in API_KEY_STATUSES:
            for key in await self._list_all(
                "/v1/organizations/api_keys",
                AnthropicEndpoint.API_KEYS,
                ApiKey,
                stats,
                [("status", status)],
            ):
                keys.setdefault(key.id, key)
        return list(keys.values())

    async def users(self, stats: RequestStats) -> list[OrgUser]:
        return await self._list_all(
            "/v1/organizations/users", AnthropicEndpoint.USERS, OrgUser, stats, []
        )

    async def workspaces(self, stats: RequestStats) -> list[Workspace]:
        return await self._list_all(
            "/v1/organizations/workspaces",
            AnthropicEndpoint.WORKSPACES,
            Workspace,
            stats,
            [("include_archived", "true")],
        )
