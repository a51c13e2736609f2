"""The runs API in process (ASGI), with its real lifespan: pool, worker, simulator upstreams."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.repositories import runs as runs_repo
from app.repositories.runs import NewRun
from app.vocabulary import RunStatus
from tests.integration.conftest import AUTH, TOKEN, WINDOW, wait_for
from tests.integration.jobs import expected_totals, normalise, view_totals
from tests.support.services import BearerUnlessGiven, Simulator

TABLES = {"cursor": "fact_cursor_daily_usage"}


async def test_post_then_poll_until_succeeded(
    api: httpx.AsyncClient, db: asyncpg.Pool, simulator: Simulator
) -> None:
    response = await api.post("/runs", json=WINDOW, headers=AUTH)
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    body = response.json()
    assert location == f"/runs/{body['id']}"
    assert body["status"] in ("queued", "running") and body["trigger"] == "api"
    run = await wait_for(api, location)
    assert run["status"] == "succeeded", run
    assert {p["source"] for p in run["progress"]} == {
        "cursor",
        "cursor_spend",
        "claude_code",
        "claude_usage",
        "claude_cost",
        "claude_ai",
    }
    assert all(
        p["status"] == "succeeded" and p["days_done"] == p["days_total"] for p in run["progress"]
    )
    assert normalise(await view_totals(db)) == expected_totals(simulator)


async def test_fifty_concurrent_posts_with_one_key_make_one_run(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    headers = {**AUTH, "Idempotency-Key": "backfill-august-0001"}
    responses = await asyncio.gather(
        *(api.post("/runs", json=WINDOW, headers=headers) for _ in range(50))
    )
    assert {r.status_code for r in responses} <= {200, 202}
    assert sum(r.status_code == 202 for r in responses) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM ingestion_runs") == 1

    other = await api.post("/runs", json={**WINDOW, "sources": ["cursor"]}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["run_id"] == responses[0].json()["id"]


async def test_overlapping_window_is_409_naming_the_run(
    api: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.fault("*", kind="latency", ms=300, times=None)  # keep the first run going
    first = await api.post("/runs", json=WINDOW, headers=AUTH)
    assert first.status_code == 202
    overlapping = await api.post(
        "/runs",
        json={"start_date": "2026-08-03", "end_date": "2026-08-05", "sources": ["cursor"]},
        headers=AUTH,
    )
    assert overlapping.status_code == 409
    problem = overlapping.json()
    assert problem["run_id"] == first.json()["id"] and problem["status"] == 409
    assert overlapping.headers["location"] == first.headers["location"]
    elsewhere = await api.post(
        "/runs",
        json={"start_date": "2026-07-01", "end_date": "2026-07-02", "sources": ["cursor"]},
        headers=AUTH,
    )
    assert elsewhere.status_code == 202  # no overlap: queued beside it


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
)
async def test_missing_or_wrong_token_is_401(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in ("/runs", f"/runs/{uuid.uuid4()}/cancel"):
        response = await api.post(path, json={}, headers=headers, auth=None)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in response.text


TODAY = datetime.now(UTC).date()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"start_date": "2026-08-03", "end_date": "2026-08-01"}, "is before start_date"),
        (
            {"start_date": str(TODAY), "end_date": str(TODAY + timedelta(days=2))},
            "is in the future",
        ),
        ({"start_date": "2024-01-01", "end_date": "2026-01-01"}, "exceeds MAX_WINDOW_DAYS=366"),
        ({"sources": ["github"]}, "sources.0"),
        ({"sources": []}, "sources"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_bad_bodies_are_422_problems(
    api: httpx.AsyncClient, body: dict[str, Any], detail: str
) -> None:
    response = await api.post("/runs", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


async def test_source_not_configured_is_422(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    settings = simulator.settings(database_url=database_dsn, cursor_api_key=None)
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            auth=BearerUnlessGiven(TOKEN),
            transport=httpx.ASGITransport(app=app),
            base_url="http://s",
        ) as client,
    ):
        response = await client.post("/runs", json={"sources": ["cursor"]}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"] == "source(s) not configured: cursor (set their API keys)"


async def test_malformed_json_and_bad_idempotency_keys(api: httpx.AsyncClient) -> None:
    malformed = await api.post(
        "/runs", content=b'{"start_date": ', headers={**AUTH, "content-type": "application/json"}
    )
    assert malformed.status_code == 422
    blank = await api.post(
        "/runs", content=b"\n", headers={**AUTH, "content-type": "application/json"}
    )
    assert blank.status_code == 422  # whitespace is not a JSON document; no body at all is
    for key in ["", "x" * 256, "bad\x7fkey", 'with"quote']:
        response = await api.post("/runs", json=WINDOW, headers={**AUTH, "Idempotency-Key": key})
        assert response.status_code == 400, key
        assert response.headers["content-type"] == "application/problem+json"


async def test_no_body_queues_the_default_window(api: httpx.AsyncClient) -> None:
    response = await api.post("/runs", headers=AUTH)
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["window_start"] <= run["window_end"]
    assert run["sources"]


async def test_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/runs",
        content=b"{" + b" " * 70_000 + b"}",
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_get_unknown_is_404_and_malformed_id_is_422(api: httpx.AsyncClient) -> None:
    unknown = await api.get(f"/runs/{uuid.uuid4()}")
    assert (
        unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    )
    assert (await api.get("/runs/not-a-uuid")).status_code == 422


async def test_list_is_newest_first_with_keyset_pages(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    async with db.acquire() as connection:
        for offset in range(5):
            day = date(2026, 6, 1) + timedelta(days=offset)
            await connection.execute(
                "INSERT INTO ingestion_runs (status, trigger, window_start, window_end, sources, accounts, created_at)"
                " VALUES ('succeeded', 'cli', $1, $1, '{cursor}', '{default}', now() - make_interval(mins => $2))",
                day,
                10 - offset,
            )
    first = (await api.get("/runs", params={"limit": 2})).json()
    assert [r["window_start"] for r in first["runs"]] == ["2026-06-05", "2026-06-04"]
    second = (await api.get(first["next"])).json()
    assert [r["window_start"] for r in second["runs"]] == ["2026-06-03", "2026-06-02"]
    last = (await api.get(second["next"])).json()
    assert [r["window_start"] for r in last["runs"]] == ["2026-06-01"] and last["next"] is None
    assert (await api.get("/runs", params={"status": "running"})).json()["runs"] == []
    assert (await api.get("/runs", params={"status": "exploded"})).status_code == 422


async def _running(api: httpx.AsyncClient) -> str:
    """A run of WINDOW queued, seen running, and given half a second to get going."""
    location: str = (await api.post("/runs", json=WINDOW, headers=AUTH)).headers["location"]
    for _ in range(100):
        if (await api.get(location)).json()["status"] == "running":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    return location


async def test_cancel_a_running_run_stops_cleanly(
    api: httpx.AsyncClient, db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("*", kind="latency", ms=250, times=None)
    location = await _running(api)
    cancelled = await api.post(f"{location}/cancel", headers=AUTH)
    assert cancelled.status_code == 202
    run = await wait_for(api, location, within=30)
    assert run["status"] == "cancelled" and run["status_reason"] == "cancelled by request"
    assert any(p["status"] == "cancelled" for p in run["progress"])
    # Whatever was written is whole days: every written Claude Code day has all its records.
    async with db.acquire() as connection:
        days = await connection.fetch(
            "SELECT usage_date, count(*) FILTER (WHERE model IS NULL) AS records FROM fact_claude_daily_usage"
            " WHERE source = 'claude_code_analytics' GROUP BY usage_date"
        )
    for row in days:
        assert row["records"] == len(simulator.truth.claude_code_records(row["usage_date"]))
    again = await api.post(f"{location}/cancel", headers=AUTH)
    assert again.status_code == 409


async def test_cancel_a_queued_run(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    day = date(2026, 1, 1)
    run = NewRun(day, day, ["cursor"], ["default"], [("default", ["cursor"])], TABLES)
    async with db.acquire() as connection:
        # A running run of the same window and source keeps the workers from claiming it.
        await runs_repo.create_run(
            connection, run, trigger="cli", status=RunStatus.RUNNING, worker_id="elsewhere"
        )
        await connection.execute(
            "UPDATE ingestion_run_parts SET heartbeat_at = now() + interval '1 hour'"
        )
        run_id = await runs_repo.create_run(connection, run, trigger="api")
    response = await api.post(f"/runs/{run_id}/cancel", headers=AUTH)
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert (await api.post(f"/runs/{uuid.uuid4()}/cancel", headers=AUTH)).status_code == 404


async def test_openapi_documents_every_operation(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert {"/runs", "/runs/{run_id}", "/runs/{run_id}/cancel", "/livez", "/readyz"} <= set(
        schema["paths"]
    )
    post = schema["paths"]["/runs"]["post"]
    assert {"202", "200", "401", "409", "422"} <= set(post["responses"])


async def test_an_expired_idempotency_key_can_be_used_again(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    async with db.acquire() as connection:
        old = await connection.fetchval(
            "INSERT INTO ingestion_runs (trigger, window_start, window_end, sources, accounts, status, idempotency_key,"
            " request_fingerprint, created_at) VALUES ('api', '2026-01-01', '2026-01-01', '{cursor}', '{default}', 'succeeded',"
            " 'monthly-key', 'another-body', now() - interval '25 hours') RETURNING id"
        )
    headers = {**AUTH, "Idempotency-Key": "monthly-key"}
    response = await api.post("/runs", json={**WINDOW, "sources": ["cursor"]}, headers=headers)
    assert response.status_code == 202 and response.json()["id"] != str(old)
    again = await api.post("/runs", json={**WINDOW, "sources": ["cursor"]}, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]


async def test_cancel_interrupts_a_request_in_flight(
    api: httpx.AsyncClient, simulator: Simulator
) -> None:
    """A source waiting on a slow upstream is interrupted where it is, not at its next page:
    the run ends within seconds of the cancel, not when the 30-second answer would come."""
    simulator.fault("usage_report/claude_code", kind="latency", ms=30_000, times=None)
    location = await _running(api)
    asked = asyncio.get_running_loop().time()
    assert (await api.post(f"{location}/cancel", headers=AUTH)).status_code == 202
    run = await wait_for(api, location, within=10)
    assert asyncio.get_running_loop().time() - asked < 5
    assert run["status"] == "cancelled"
    claude_code = next(p for p in run["progress"] if p["source"] == "claude_code")
    assert claude_code["status"] == "cancelled" and claude_code["days_done"] == 0
