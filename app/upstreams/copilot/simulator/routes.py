"""GitHub's Copilot surfaces as documented: the per-user usage-metrics report (metadata with
signed links, then NDJSON shards fetched without the token), seats (`page`/`per_page` with a
`Link` header), AI-credit and premium-request billing usage, and the GraphQL identities.
Bearer auth, `X-GitHub-Api-Version`, a required `User-Agent`; errors in GitHub's envelope.

Organisation paths (`/orgs/{org}`, `/organizations/{org}`) and enterprise paths
(`/enterprises/{enterprise}`) serve the same simulated Copilot users.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.simulator.plumbing import (
    Reject,
    dumps,
    faulty_response,
    github_error,
    respond,
    simulated,
)
from app.upstreams.copilot.simulator.truth import ORG_REPORTS_FROM

API_VERSIONS = ("2022-11-28", "2026-03-10")
SHARD_USERS = 10  # users per report file: a day of more is several files
LINK_SECONDS = 300  # how long a signed link works
MAX_PER_PAGE = 100

router = APIRouter()


def _github_auth(request: Request, name: str) -> None:
    """The documented checks, in GitHub's order: a User-Agent, a supported API version, the
    token, then the organisation (or enterprise) the token can see."""
    if not request.headers.get("user-agent"):
        raise Reject(
            github_error(
                403,
                "Request forbidden by administrative rules. Please"
                " make sure your request has a User-Agent header",
            )
        )
    version = request.headers.get("x-github-api-version")
    if version is not None and version not in API_VERSIONS:
        raise Reject(github_error(410, f"API version {version} is not supported."))
    options = simulated(request).options
    if request.headers.get("authorization") != f"Bearer {options.github_token}":
        raise Reject(github_error(401, "Bad credentials"))
    if name != options.github_organization:
        raise Reject(github_error(404, "Not Found"))


def _day(request: Request) -> date:
    try:
        return date.fromisoformat(request.query_params["day"])
    except (KeyError, ValueError):
        raise Reject(github_error(422, "Invalid request: day must be YYYY-MM-DD")) from None


def _sign(day: date, shard: int, expires: float) -> str:
    raw = json.dumps({"day": day.isoformat(), "shard": shard, "exp": expires}).encode()
    return base64.urlsafe_b64encode(raw).decode()


@router.get("/orgs/{name}/copilot/metrics/reports/users-1-day")
@router.get("/enterprises/{name}/copilot/metrics/reports/users-1-day")
async def users_report(request: Request, name: str) -> Response:
    _github_auth(request, name)
    day = _day(request)
    sim = simulated(request)
    now = datetime.now(UTC)
    if day > now.date() - timedelta(days=2):  # not generated yet: "within two full UTC days"
        sim.counts["metrics/reports/users-1-day"] = sim.counts.get(
            "metrics/reports/users-1-day", 0) + 1  # fmt: skip
        return Response(status_code=204)
    if day < ORG_REPORTS_FROM or day < now.date() - timedelta(days=365):
        return Response(b'""', media_type="application/json")  # before the data begins
    users = len(sim.truth.copilot_records(day))
    shards = max(1, -(-users // SHARD_USERS))
    expires = time.time() + LINK_SECONDS
    base = str(request.base_url).rstrip("/")
    links = [f"{base}/_copilot_files/{_sign(day, n, expires)}" for n in range(shards)]
    body = {"download_links": links, "report_day": day.isoformat()}
    return await respond(request, "metrics/reports/users-1-day", "copilot", body, 1, False)


@router.get("/_copilot_files/{token}")
async def report_file(request: Request, token: str) -> Response:
    """A signed link: no GitHub credential is wanted (a blob store rejects one)."""
    if request.headers.get("authorization"):
        return Response(b"<Error><Code>InvalidAuthenticationInfo</Code></Error>", 400)
    sim = simulated(request)
    sim.counts["report-file"] = sim.counts.get("report-file", 0) + 1
    signed = json.loads(base64.urlsafe_b64decode(token))
    if signed["exp"] < time.time():
        return _expired()
    day = date.fromisoformat(signed["day"])
    records = sim.truth.copilot_records(day)
    shard = records[signed["shard"] * SHARD_USERS : (signed["shard"] + 1) * SHARD_USERS]
    body: dict[str, Any] = {"data": copy.deepcopy(shard)}
    fault = sim.faults.take("report-file", 1, False)
    if fault is not None:
        if fault.kind == "status" and fault.status == 403:
            return _expired()
        if (faulty := faulty_response(fault, "copilot", body)) is not None:
            return faulty
    lines = b"\n".join(dumps(record) for record in body["data"])
    return Response(lines + b"\n" if lines else b"", media_type="application/x-ndjson")


def _expired() -> Response:
    return Response(
        b"<Error><Code>AuthenticationFailed</Code><Message>Signed expiry time has passed"
        b"</Message></Error>",
        status_code=403,
        media_type="application/xml",
    )


@router.get("/orgs/{name}/copilot/billing/seats")
@router.get("/enterprises/{name}/copilot/billing/seats")
async def seats(request: Request, name: str) -> Response:
    _github_auth(request, name)
    sim = simulated(request)
    page = int(request.query_params.get("page", 1))
    per_page = min(int(request.query_params.get("per_page", 50)), MAX_PER_PAGE)
    if sim.options.page_cap:
        per_page = min(per_page, sim.options.page_cap)
    listed = sim.truth.seats(datetime.now(UTC).replace(microsecond=0))
    chosen = listed[(page - 1) * per_page : page * per_page]
    body = {"total_seats": len(listed), "seats": chosen}
    response = await respond(request, "copilot/billing/seats", "copilot", body, page, page > 1)
    last = max(1, -(-len(listed) // per_page))
    url = str(request.url.remove_query_params("page"))
    links = [f'<{url}&page={page + 1}>; rel="next"'] if page < last else []
    links.append(f'<{url}&page={last}>; rel="last"')
    response.headers["link"] = ", ".join(links)
    return response


@router.get("/organizations/{name}/settings/billing/{kind}/usage")
@router.get("/enterprises/{name}/settings/billing/{kind}/usage")
async def billing(request: Request, name: str, kind: str) -> Response:
    _github_auth(request, name)
    sim = simulated(request)
    params = request.query_params
    try:
        day = date(int(params["year"]), int(params["month"]), int(params["day"]))
    except (KeyError, ValueError):
        raise Reject(github_error(400, "year, month and day are required here")) from None
    truth = sim.truth
    login = params.get("user")
    if login is None:
        items = truth.copilot_org_lines(day)
    else:
        user = next((u for u in truth.github_users if u.login.lower() == login.lower()), None)
        items = [] if user is None else truth.copilot_user_lines(user, day)
    era = "ai_credit" if day >= date(2026, 6, 1) else "premium_request"
    if kind != era:
        items = []  # each endpoint answers its own era only
    body: dict[str, Any] = {
        "timePeriod": {"year": day.year, "month": day.month, "day": day.day},
        "organization": name,
        "usageItems": [{k: _number(v) for k, v in item.items() if k != "day"} for item in items],
    }
    if login is not None:
        body["user"] = login
    return await respond(request, f"billing/{kind}/usage", "copilot", body, 1, False)


def _number(value: object) -> object:
    """Amounts go out as JSON numbers, as GitHub sends them."""
    return float(value) if isinstance(value, Decimal) else value


@router.post("/graphql")
async def graphql(request: Request) -> Response:
    """The two queries the client sends, told apart by what they select; one page each."""
    sim = simulated(request)
    body = await request.json()
    query, variables = body.get("query", ""), body.get("variables") or {}
    _github_auth(request, variables.get("name", ""))
    info = {"hasNextPage": False, "endCursor": None}
    data: dict[str, object]
    if "externalIdentities" in query:
        identities = {"externalIdentities": {"pageInfo": info,
                                             "nodes": sim.truth.saml_identities()}}  # fmt: skip
        provider = {"samlIdentityProvider": identities}
        data = (
            {"organization": provider}
            if "organization(" in query
            else {"enterprise": {"ownerInfo": provider}}
        )
    elif "membersWithRole" in query:
        members = {"pageInfo": info, "nodes": sim.truth.members()}
        data = {"organization": {"membersWithRole": members}}
    else:
        return github_error(400, "unknown query")
    return await respond(request, "graphql", "copilot", {"data": data}, 1, False)
