"""claude.ai's feeds over the Anthropic client: the Compliance activity feed (`after_id` paging)
and Enterprise Analytics (people's and the organisation's reports, at most 31 days a request)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import TypeVar

from app.ingestion.http import RequestStats
from app.ingestion.pagination import Page, fetch_page, restartable
from app.ingestion.windows import chunk_window
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
from app.upstreams.anthropic.client import (
    ACTIVITY_LIMIT,
    ANALYTICS_FIRST_DAY,
    ANALYTICS_MAX_SPAN_DAYS,
    LIST_LIMIT,
    AnthropicClient,
    AnthropicEndpoint,
    Params,
    rfc3339,
)
from app.upstreams.anthropic.models import FreshPageOf

T = TypeVar("T")  # a row or bucket of a report


class ClaudeAiClient(AnthropicClient):
    """The Anthropic client with claude.ai's reads (its own key: Compliance or Analytics)."""

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
        page_model: type[FreshPageOf[T]],
        start: date,
        end: date,
        stats: RequestStats,
        *,
        limit: int = LIST_LIMIT,
    ) -> AsyncIterator[Page[T]]:
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
