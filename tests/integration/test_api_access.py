"""Who may call what: every route of the app × {no token, each scope}, reads closed unless
API_READS_OPEN, tokens rotated through API_TOKENS_FILE without a restart, and the bounds a
token holder meets (queued runs per token, the earliest day, body and query sizes)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute

from app.main import ROUTERS
from app.repositories import run_queue
from app.repositories.runs import NewRun
from tests.integration.conftest import TOKEN, serve
from tests.support.services import Simulator

READER, RUNNER, OPS = ("r" * 32, "t" * 32, "o" * 32)
TOKENS = [
    {"name": "reader", "scopes": ["read"], "token": READER},
    {"name": "runner", "scopes": ["trigger"], "token": RUNNER},
    {"name": "ops", "scopes": ["admin"], "token": OPS},
]
CALLERS = {"none": None, "read": READER, "trigger": RUNNER, "admin": OPS}
PROBES = {"/livez", "/readyz"}
READS = {
    "/runs", "/runs/{run_id}", "/coverage", "/sources", "/metrics", "/openapi.json", "/docs",
    "/docs/assets/{name}", "/insights/spend", "/insights/adoption", "/insights/seats",
    "/insights/forecast", "/digest", "/teams", "/budgets", "/alerts",
}  # fmt: skip
WRITES = {"/runs", "/runs/{run_id}/cancel"}
# Changing what the answers are measured against: admin only (method, path, request body).
ADMIN_WRITES = {
    ("PUT", "/teams"): "email,team\nana@acme.dev,platform\n",
    ("PUT", "/budgets"): {"scope": "organization", "monthly_usd": "100"},
    ("DELETE", "/budgets/{budget_id}"): None,
}


@pytest.fixture
async def client(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> AsyncIterator[httpx.AsyncClient]:
    settings = simulator.settings(database_url=database_dsn, api_tokens=json.dumps(TOKENS))
    async with serve(settings, token=None) as client:
        yield client


def _auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


async def _existing_run(db: asyncpg.Pool, requested_by: str) -> uuid.UUID:
    async with db.acquire() as connection:
        run_id: uuid.UUID = await connection.fetchval(
            "INSERT INTO ingestion_runs (trigger, window_start, window_end, sources, accounts,"
            " status, requested_by) VALUES ('api', '2026-01-01', '2026-01-01', '{cursor}',"
            " '{default}', 'succeeded', $1) RETURNING id",
            requested_by,
        )
    return run_id


async def test_every_route_by_every_scope(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    routes = {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    expected_routes = (
        {("GET", path) for path in PROBES | READS}
        | {("POST", path) for path in WRITES}
        | set(ADMIN_WRITES)
    )
    assert routes == expected_routes  # a new route must join this matrix
    theirs = await _existing_run(db, "someone-else")
    day = iter(date(2026, 7, 1) + timedelta(days=n) for n in range(100))
    for caller, token in CALLERS.items():
        mine = await _existing_run(db, {"trigger": "runner", "admin": "ops"}.get(caller, "x"))
        for method, path in sorted(routes):
            url = path.replace("{run_id}", str(mine)).replace("{name}", "swagger-ui.css")
            url = url.replace("{budget_id}", "999999")
            body: object = ADMIN_WRITES.get((method, path))
            if path == "/runs" and method == "POST":
                first = str(next(day))
                body = {"start_date": first, "end_date": first, "sources": ["cursor"]}
            sent = {"content": body} if isinstance(body, str) else {"json": body}
            response = await client.request(method, url, headers=_auth(token), **sent)
            status = response.status_code
            where = f"{caller} {method} {path}: {status} {response.text[:200]}"
            if (method, path) in ADMIN_WRITES and token is not None:
                needs = "token '{}' has scope {}; this needs admin"
                names = {"read": "reader", "trigger": "runner"}
                if caller == "admin":
                    assert status == (404 if method == "DELETE" else 200), where
                else:
                    assert status == 403, where
                    assert response.json()["detail"] == needs.format(names[caller], caller)
            elif path in PROBES:
                assert status == 200, where
            elif token is None:
                assert status == 401 and "bearer" in response.headers["www-authenticate"].lower()
                assert response.headers["content-type"] == "application/problem+json", where
            elif method == "GET":
                assert status == 200, where
            elif caller == "read":
                assert status == 403, where
                assert (
                    response.json()["detail"] == "token 'reader' has scope read; this needs trigger"
                )
            else:  # trigger or admin: a run queued, or its own finished run refused as done
                assert status in (202, 409), where
                if path == "/runs":
                    assert response.json()["requested_by"] == {"trigger": "runner"}.get(
                        caller, "ops"
                    )
        # Someone else's run: only admin may cancel it (409 here: it has finished).
        other = await client.post(f"/runs/{theirs}/cancel", headers=_auth(token))
        expected = {"none": 401, "read": 403, "trigger": 403, "admin": 409}[caller]
        assert other.status_code == expected, other.text
    assert (await client.get("/runs", headers=_auth(TOKEN))).status_code == 200  # API_TOKEN


async def test_reads_can_be_opened_writes_never(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    settings = simulator.settings(database_url=database_dsn, api_reads_open=True)
    async with serve(settings, token=None) as client:
        assert (await client.get("/runs")).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/runs", headers=_auth("w" * 40))).status_code == 401
        assert (await client.post("/runs", json={})).status_code == 401


async def test_a_token_file_is_rotated_without_a_restart(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator, tmp_path: Path
) -> None:
    old, new = "a" * 40, "b" * 40
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([{"name": "grafana", "scopes": ["read"], "token": old}]))
    settings = simulator.settings(database_url=database_dsn, api_tokens_file=path)
    async with serve(settings, token=None) as client:

        async def status(token: str) -> int:
            return (await client.get("/sources", headers=_auth(token))).status_code

        assert (await status(old), await status(new)) == (200, 401)
        both = [{"name": "grafana", "scopes": ["read"], "token": old},
                {"name": "grafana-next", "scopes": ["read"], "token": new}]  # fmt: skip
        path.write_text(json.dumps(both))
        await asyncio.sleep(1.1)  # the file is looked at once a second
        assert (await status(old), await status(new)) == (200, 200)
        path.write_text(json.dumps(both[1:]))
        await asyncio.sleep(1.1)
        assert (await status(old), await status(new)) == (401, 200)
        path.write_text("{broken")  # a bad edit keeps the tokens read before it
        await asyncio.sleep(1.1)
        assert (await status(old), await status(new)) == (401, 200)


def _one_day(day: date, source: str) -> NewRun:
    tables = {source: "fact_cursor_daily_usage"}
    return NewRun(day, day, [source], ["default"], [("default", [source])], tables)


async def test_queued_runs_are_capped_per_requester(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        for offset in range(2):
            first = date(2026, 5, 1) + timedelta(days=offset)
            await run_queue.create_requested_run(
                connection, _one_day(first, "cursor"), requested_by="runner", max_queued=2
            )
        third = date(2026, 5, 10)
        with pytest.raises(run_queue.TooManyQueued, match="'runner' has 2 runs queued"):
            await run_queue.create_requested_run(
                connection, _one_day(third, "cursor"), requested_by="runner", max_queued=2
            )
        # Another requester, or an admin (no cap), still gets its run.
        for who, cap in (("other", 2), ("ops", None)):
            created = await run_queue.create_requested_run(
                connection, _one_day(third, f"claude_{who}"), requested_by=who, max_queued=cap
            )
            assert created.created


async def test_bounds_a_token_holder_meets(client: httpx.AsyncClient) -> None:
    ops = _auth(OPS)
    early = await client.post(
        "/runs", json={"start_date": "2022-12-31", "end_date": "2023-01-02"}, headers=ops
    )
    assert early.status_code == 422
    assert "before EARLIEST_DAY=2023-01-01" in early.json()["detail"]

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length to trust
        for _ in range(100):
            yield b" " * 1024

    big = await client.post(
        "/runs", content=chunked(), headers={**ops, "content-type": "application/json"}
    )
    assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"
    repeated = await client.get(
        "/coverage", params=[("source", "cursor")] * 250, headers=_auth(READER)
    )
    assert repeated.status_code == 200
    assert len(repeated.json()["days"]) == 30  # one source × 30 days, however often named
    longer = await client.get(
        "/coverage", params=[("source", "cursor")] * 300, headers=_auth(READER)
    )
    assert longer.status_code == 414
