"""GitHub's REST and GraphQL APIs for Copilot: the usage-metrics report of each day (metadata,
then its signed files), the seat list, the AI-credit billing usage, and SAML/verified-email
identities. One organisation or one enterprise per client (`Scope`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

import msgspec

from app.config import Settings
from app.ingestion.errors import UpstreamError
from app.ingestion.factory import ClientKey, HttpParts
from app.ingestion.http import RequestStats, UpstreamHttp
from app.ingestion.pagination import Page, malformed, typed_page
from app.upstreams.copilot.models import (
    BillingItem,
    BillingUsage,
    CopilotUserDay,
    ExternalIdentity,
    GraphError,
    IdentityAnswer,
    Member,
    MemberAnswer,
    ReportLinks,
    Seat,
    SeatsPage,
)

API_VERSION = "2026-03-10"
SEATS_PER_PAGE = 100  # the documented maximum
GRAPH_PAGE = 100
# AI credits replaced premium requests on this day; each usage endpoint returns its own era.
AI_CREDITS_FROM = date(2026, 6, 1)
USER_AGENT = "ai-usage-pipeline"
A = TypeVar("A", IdentityAnswer, MemberAnswer)


class CopilotEndpoint(StrEnum):
    """The requests this client makes, as metrics, logs and errors name them."""

    USERS_REPORT = "metrics/reports/users-1-day"
    REPORT_FILE = "report-file"
    SEATS = "copilot/billing/seats"
    AI_CREDIT_USAGE = "billing/ai_credit/usage"
    PREMIUM_REQUEST_USAGE = "billing/premium_request/usage"
    GRAPHQL = "graphql"


class NoReport(Exception):
    """GitHub has no report file for the day (yet): 204, an empty body, or 404."""

    def __init__(self, day: date, why: str) -> None:
        super().__init__(f"no users-1-day report for {day} ({why})")
        self.day = day
        self.why = why


@dataclass(frozen=True)
class Scope:
    """What one token reads: an organisation or an enterprise (their paths differ)."""

    kind: str  # "organization" | "enterprise"
    name: str

    @property
    def metrics_prefix(self) -> str:
        return f"/orgs/{self.name}" if self.kind == "organization" else f"/enterprises/{self.name}"

    @property
    def billing_prefix(self) -> str:
        if self.kind == "organization":
            return f"/organizations/{self.name}"
        return f"/enterprises/{self.name}"


def _links_or_none(body: bytes) -> ReportLinks | None:
    """204 No Content, `""` or `null`: no report (DevLake saw all three for days without one)."""
    if body.strip() in (b"", b'""', b"null"):
        return None
    return typed_page(
        ReportLinks, upstream="copilot", endpoint=CopilotEndpoint.USERS_REPORT, where="metadata"
    )(body)


_record_decoder = msgspec.json.Decoder(CopilotUserDay, strict=False)
_records_decoder = msgspec.json.Decoder(list[CopilotUserDay], strict=False)


def parse_user_report(body: bytes, where: str) -> list[CopilotUserDay]:
    """A per-user report file: NDJSON (one record a line) as documented, or a JSON array (the
    docs' examples drifted between the two). A bad line fails the file, naming the line."""
    text = body.strip()
    if not text:
        return []
    endpoint = CopilotEndpoint.REPORT_FILE
    try:
        if text.startswith(b"["):
            return _records_decoder.decode(text)
        return [_record_decoder.decode(line) for line in _lines(text) if line.strip()]
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        line = _failing_line(text)
        raise malformed(f"{exc}{line}", "copilot", endpoint, where) from None


def _lines(text: bytes) -> Iterator[bytes]:
    return iter(text.split(b"\n"))


def _failing_line(text: bytes) -> str:
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            _record_decoder.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return f" (line {number})"
    return ""


def _raw(body: bytes) -> bytes:
    return body


class CopilotClient:
    upstream = "copilot"

    def __init__(self, http: UpstreamHttp, files: UpstreamHttp, scope: Scope) -> None:
        self._http = http
        self._files = files  # the signed report links: no GitHub credential goes with them
        self.scope = scope

    # --- usage-metrics report ----------------------------------------------------------

    async def user_day_report(self, day: date, stats: RequestStats) -> list[CopilotUserDay]:
        """Every record of the day's per-user report, its shards concatenated. A link that
        expired between the metadata and the download is asked for again, once."""
        for attempt in (1, 2):
            links = await self._report_links(day, stats)
            try:
                return await self._download(links, day, stats)
            except UpstreamError as exc:
                if attempt == 2 or exc.status not in (403, 404):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _report_links(self, day: date, stats: RequestStats) -> list[str]:
        endpoint = CopilotEndpoint.USERS_REPORT
        try:
            links = await self._http.request_json(
                "GET", f"{self.scope.metrics_prefix}/copilot/{endpoint}", endpoint=endpoint,
                stats=stats, decode=_links_or_none, params=[("day", day.isoformat())],
                context=str(day),
            )  # fmt: skip
        except UpstreamError as exc:
            if exc.status == 404:  # the upstream's own words, without our prefix
                said = str(exc).rpartition("HTTP 404: ")[2]
                raise NoReport(day, f"HTTP 404: {said}") from None
            raise
        if links is None:
            raise NoReport(day, f"HTTP {stats.last_status} with no report")
        return links.download_links

    async def _download(
        self, links: list[str], day: date, stats: RequestStats
    ) -> list[CopilotUserDay]:
        records: list[CopilotUserDay] = []
        for number, link in enumerate(links, start=1):
            where = f"{day} file {number} of {len(links)}"
            body = await self._files.request_json(
                "GET", link, endpoint=CopilotEndpoint.REPORT_FILE, stats=stats, decode=_raw,
                context=where,
            )  # fmt: skip
            records.extend(parse_user_report(body, where))
        return records

    # --- seats -------------------------------------------------------------------------

    async def seats(self, stats: RequestStats) -> AsyncIterator[Page[Seat]]:
        """Every page of the seat list, and (on the last page's `warning`) whether the pages
        held `total_seats` distinct seats."""
        endpoint = CopilotEndpoint.SEATS
        number, seen = 1, 0
        while True:
            page = await self._http.request_json(
                "GET", f"{self.scope.metrics_prefix}/copilot/billing/seats", endpoint=endpoint,
                stats=stats, params=[("page", number), ("per_page", SEATS_PER_PAGE)],
                context=f"page {number}",
                decode=typed_page(SeatsPage, upstream="copilot", endpoint=endpoint,
                                  where=f"page {number}"),
            )  # fmt: skip
            seen += len(page.seats)
            # A page may hold fewer seats than asked for (GitHub may cap `per_page`): the list
            # ends with an empty page or once `total_seats` are read.
            last = not page.seats or seen >= page.total_seats
            warning = None
            if last and seen != page.total_seats:
                warning = f"the seat list said {page.total_seats} seats and listed {seen}"
            yield Page(page.seats, number, last=last, warning=warning)
            if last:
                return
            number += 1

    # --- billing -----------------------------------------------------------------------

    async def billing_usage(
        self, day: date, user: str | None, stats: RequestStats
    ) -> list[BillingItem]:
        """The day's AI-credit lines (premium requests before June 2026) of the whole
        organisation or enterprise, or of one user."""
        endpoint = (
            CopilotEndpoint.AI_CREDIT_USAGE
            if day >= AI_CREDITS_FROM
            else CopilotEndpoint.PREMIUM_REQUEST_USAGE
        )
        params: list[tuple[str, str | int]] = [
            ("year", day.year), ("month", day.month), ("day", day.day),
        ]  # fmt: skip
        if user is not None:
            params.append(("user", user))
        where = f"{day}{' user ' + user if user else ''}"
        usage = await self._http.request_json(
            "GET", f"{self.scope.billing_prefix}/settings/{endpoint}", endpoint=endpoint,
            stats=stats, params=params, context=where,
            decode=typed_page(BillingUsage, upstream="copilot", endpoint=endpoint, where=where),
        )  # fmt: skip
        return usage.usageItems

    # --- identities (GraphQL) ----------------------------------------------------------

    async def saml_identities(self, stats: RequestStats) -> list[ExternalIdentity]:
        """The SAML (and SCIM) identities linked to GitHub users; none where SSO is not set up.
        `GraphQLError` when GitHub refuses the query."""
        owner = (
            "organization(login: $name) { samlIdentityProvider {"
            if self.scope.kind == "organization"
            else "enterprise(slug: $name) { ownerInfo { samlIdentityProvider {"
        )
        closing = "}}}" if self.scope.kind == "organization" else "}}}}"
        query = (
            f"query($name: String!, $after: String) {{ {owner} externalIdentities(first:"
            f" {GRAPH_PAGE}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{"
            " samlIdentity { nameId emails { value } } scimIdentity { username emails { value } }"
            f" user {{ login databaseId }} }} }} {closing}"
        )
        found: list[ExternalIdentity] = []
        after: str | None = None
        while True:
            answer = await self._graphql(query, after, IdentityAnswer, stats)
            data = answer.data
            provider = None
            if data is not None and data.organization is not None:
                provider = data.organization.samlIdentityProvider
            elif data is not None and data.enterprise and data.enterprise.ownerInfo:
                provider = data.enterprise.ownerInfo.samlIdentityProvider
            if provider is None:
                return found
            found.extend(provider.externalIdentities.nodes)
            info = provider.externalIdentities.pageInfo
            if not info.hasNextPage:
                return found
            after = info.endCursor

    async def verified_emails(self, stats: RequestStats) -> list[Member]:
        """Members with the addresses they hold on the organisation's verified domains."""
        if self.scope.kind != "organization":
            return []
        query = (
            "query($name: String!, $after: String) { organization(login: $name) {"
            f" membersWithRole(first: {GRAPH_PAGE}, after: $after) {{ pageInfo {{ hasNextPage"
            " endCursor } nodes { login databaseId organizationVerifiedDomainEmails(login: $name)"
            " } } } }"
        )
        found: list[Member] = []
        after: str | None = None
        while True:
            answer = await self._graphql(query, after, MemberAnswer, stats)
            members = answer.data.organization if answer.data is not None else None
            if members is None or members.membersWithRole is None:
                return found
            found.extend(members.membersWithRole.nodes)
            if not members.membersWithRole.pageInfo.hasNextPage:
                return found
            after = members.membersWithRole.pageInfo.endCursor

    async def _graphql(
        self, query: str, after: str | None, answer: type[A], stats: RequestStats
    ) -> A:
        endpoint = CopilotEndpoint.GRAPHQL
        result = await self._http.request_json(
            "POST", "/graphql", endpoint=endpoint, stats=stats,
            json_body={"query": query, "variables": {"name": self.scope.name, "after": after}},
            decode=typed_page(answer, upstream="copilot", endpoint=endpoint, where="query"),
        )  # fmt: skip
        if result.errors:
            raise GraphQLError(result.errors)
        return result


class GraphQLError(Exception):
    """GitHub answered a GraphQL query with errors (a missing permission, SSO not enabled)."""

    def __init__(self, errors: list[GraphError]) -> None:
        super().__init__("; ".join(error.message for error in errors[:3]))


def scope_of(settings: Settings) -> Scope | None:
    if settings.github_organization is not None:
        return Scope("organization", settings.github_organization)
    if settings.github_enterprise is not None:
        return Scope("enterprise", settings.github_enterprise)
    return None


def build_client(settings: Settings, parts: HttpParts) -> CopilotClient | None:
    """The Copilot client, when GITHUB_TOKEN and the organisation (or enterprise) are set."""
    token, scope = settings.github_token, scope_of(settings)
    if token is None or scope is None:
        return None
    concurrency = parts.concurrency()
    api = parts.http(
        upstream=CopilotClient.upstream,
        base_url=str(settings.github_api_base_url),
        key_setting="GITHUB_TOKEN",
        headers={
            "Authorization": f"Bearer {token.get_secret_value()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        },
        per_minute=settings.github_requests_per_minute,
        concurrency=concurrency,
    )
    files = parts.http(
        upstream=CopilotClient.upstream,
        base_url="",
        key_setting="the report's signed download link",
        headers={"User-Agent": USER_AGENT},
        per_minute=settings.github_requests_per_minute,
        concurrency=concurrency,
    )
    return CopilotClient(api, files, scope)


COPILOT_CLIENT: ClientKey[CopilotClient] = ClientKey("copilot", build_client)
