"""Anthropic Admin API (and the claude.ai-side Compliance and Enterprise Analytics APIs).

Report endpoints use an opaque `page` cursor; every original parameter is re-sent with it.
A cursor the upstream rejects (HTTP 400) restarts the chain once; the first page after a
restart carries `restarted=True` so consumers discard what they buffered from that chain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import SecretStr

from app.config import Settings
from app.ingestion.errors import MalformedPageError
from app.ingestion.factory import ClientKey, HttpParts
from app.ingestion.http import RequestStats, UpstreamHttp
from app.ingestion.pagination import Page, fetch_page, restartable
from app.ingestion.windows import chunk_window
from app.logs import get_logger
from app.upstreams.anthropic.claude_ai_models import (
    AnalyticsCostRow,
    AnalyticsOrgBucket,
    AnalyticsOrgCost,
    AnalyticsOrgPage,
    AnalyticsOrgUsage,
    AnalyticsPage,
    AnalyticsUsageRow,
    ComplianceActivity,
    ComplianceActivityPage,
)
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
    ) -> AsyncIterator[tuple[M, Page[Any]]]:
        """Follow `next_page`, from page 1 again if the upstream rejects a cursor (see
        `restartable`)."""
        pages: dict[int, M] = {}  # the page behind each Page yielded, until it is taken

        async def chain() -> AsyncIterator[Page[Any]]:
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
        chain: AsyncIterator[Page[Any]], pages: dict[int, M]
    ) -> AsyncIterator[tuple[M, Page[Any]]]:
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
        page_model: type[MessagesUsagePage] | type[CostReportPage],
        group_by: tuple[str, ...],
        start: date,
        end: date,
        stats: RequestStats,
    ) -> AsyncIterator[Page[Any]]:
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
                    ListPage[item],  # type: ignore[valid-type]
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

    def compliance_activities(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[ComplianceActivity]]:
        """Activities created in [start, end] (UTC days), newest first, `after_id` paging (from
        the newest again if the upstream rejects an `after_id`)."""
        base: Params = [
            ("created_at.gte", rfc3339(start)),
            ("created_at.lt", rfc3339(end + timedelta(days=1))),
            ("limit", ACTIVITY_LIMIT),
        ]

        async def chain() -> AsyncIterator[Page[ComplianceActivity]]:
            after: str | None = None
            number = 0
            guard = self._http.chain_guard(
                AnthropicEndpoint.COMPLIANCE_ACTIVITIES, f"{start}..{end}"
            )
            while True:
                guard.page()
                number += 1
                where = f"{start}..{end} page {number}"
                page = await fetch_page(
                    self._http,
                    "GET",
                    "/v1/compliance/activities",
                    ComplianceActivityPage,
                    endpoint=AnthropicEndpoint.COMPLIANCE_ACTIVITIES,
                    stats=stats,
                    where=where,
                    params=base + ([("after_id", after)] if after else []),
                )
                has_more, last_id = page.has_more, page.last_id
                data = page.data
                del page
                yield Page(data, number, last=not has_more)
                del data
                if not has_more:
                    return
                guard.advance(last_id, "last_id")
                after = last_id

        return restartable(
            chain,
            upstream=self.upstream,
            endpoint=AnthropicEndpoint.COMPLIANCE_ACTIVITIES,
            where=f"{start}..{end}",
        )

    async def _analytics(
        self,
        path: str,
        endpoint: str,
        page_model: Any,
        start: date,
        end: date,
        stats: RequestStats,
        *,
        limit: int = LIST_LIMIT,
    ) -> AsyncIterator[Page[Any]]:
        """Per-user reports (rows) or the organisation's bucketed ones (daily buckets), a chunk
        of days at a time."""
        start = max(start, ANALYTICS_FIRST_DAY)
        for chunk_start, chunk_end in chunk_window(start, end, ANALYTICS_MAX_SPAN_DAYS):
            params: Params = [
                ("starting_at", rfc3339(chunk_start)),
                ("ending_at", rfc3339(chunk_end + timedelta(days=1))),
                ("bucket_width", "1d"),
                # No `products[]`: the documented default is every product, including usage
                # reported as "other" and rows no product claims (null) — a list would miss them.
                ("group_by[]", "product"),
                ("limit", limit),
            ]
            async for page, meta in self._cursor_chain(
                path, endpoint, params, page_model, stats, f"{chunk_start}..{chunk_end}"
            ):
                data, refreshed = page.data, page.data_refreshed_at
                del page
                yield Page(data, meta.number, meta.restarted, meta.last, refreshed_at=refreshed)
                del data

    def analytics_usage(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[AnalyticsUsageRow]]:
        return self._analytics(
            "/v1/organizations/analytics/user_usage_report", AnthropicEndpoint.ANALYTICS_USER_USAGE,
            AnalyticsPage[AnalyticsUsageRow], start, end, stats,
        )  # fmt: skip

    def analytics_cost(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[AnalyticsCostRow]]:
        return self._analytics(
            "/v1/organizations/analytics/user_cost_report", AnthropicEndpoint.ANALYTICS_USER_COST,
            AnalyticsPage[AnalyticsCostRow], start, end, stats,
        )  # fmt: skip

    def analytics_org_usage(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[AnalyticsOrgBucket[AnalyticsOrgUsage]]]:
        """The organisation's tokens, a daily bucket per day grouped by product, API-key
        traffic included (31 days a request)."""
        return self._analytics(
            "/v1/organizations/analytics/usage_report", AnthropicEndpoint.ANALYTICS_ORG_USAGE,
            AnalyticsOrgPage[AnalyticsOrgUsage], start, end, stats, limit=ANALYTICS_MAX_SPAN_DAYS,
        )  # fmt: skip

    def analytics_org_cost(
        self, start: date, end: date, stats: RequestStats
    ) -> AsyncIterator[Page[AnalyticsOrgBucket[AnalyticsOrgCost]]]:
        """The organisation's cost, as `analytics_org_usage`."""
        return self._analytics(
            "/v1/organizations/analytics/cost_report", AnthropicEndpoint.ANALYTICS_ORG_COST,
            AnalyticsOrgPage[AnalyticsOrgCost], start, end, stats, limit=ANALYTICS_MAX_SPAN_DAYS,
        )  # fmt: skip


@dataclass(frozen=True)
class AnthropicClients:
    """One client per Anthropic key: the Admin API key, the Compliance key (or the admin key
    where it is allowed to read the feed) and the Enterprise Analytics key."""

    admin: AnthropicClient | None
    compliance: AnthropicClient | None
    analytics: AnthropicClient | None


def build_clients(settings: Settings, parts: HttpParts) -> AnthropicClients | None:
    def client(key: SecretStr | None, setting: str, per_minute: float) -> AnthropicClient | None:
        if key is None:
            return None
        return AnthropicClient(
            parts.http(
                upstream=AnthropicClient.upstream,
                base_url=str(settings.anthropic_api_base_url),
                key_setting=setting,
                headers=anthropic_headers(key.get_secret_value()),
                per_minute=per_minute,
            ),
            report_days_per_page=settings.anthropic_report_days_per_page,
        )

    compliance_setting = (
        "ANTHROPIC_COMPLIANCE_API_KEY"
        if settings.anthropic_compliance_api_key is not None
        else "ANTHROPIC_ADMIN_API_KEY"
    )
    clients = AnthropicClients(
        admin=client(
            settings.anthropic_admin_api_key,
            "ANTHROPIC_ADMIN_API_KEY",
            settings.anthropic_requests_per_minute,
        ),
        compliance=client(
            settings.compliance_key,
            compliance_setting,
            settings.anthropic_compliance_requests_per_minute,
        ),
        analytics=client(
            settings.anthropic_analytics_api_key,
            "ANTHROPIC_ANALYTICS_API_KEY",
            settings.anthropic_analytics_requests_per_minute,
        ),
    )
    return None if clients == AnthropicClients(None, None, None) else clients


ANTHROPIC_CLIENTS: ClientKey[AnthropicClients] = ClientKey("anthropic", build_clients)
