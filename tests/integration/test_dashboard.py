"""The dashboard over ASGI: who may see and do what (login cookie, bearer, CSRF), its security
headers, and its numbers equal to the API's answers after a run against the simulator."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from app.orchestration.run_request import utc_today
from app.simulator.model import GroundTruth
from app.simulator.plumbing import SimulatorOptions
from tests.integration.conftest import TOKEN, serve, wait_for
from tests.support.services import Simulator, start_simulator

pytestmark = pytest.mark.usefixtures("logs_restored")
READER, RUNNER = "r" * 32, "t" * 32
TOKENS = [
    {"name": "reader", "scopes": ["read"], "token": READER},
    {"name": "runner", "scopes": ["trigger"], "token": RUNNER},
]
YESTERDAY = utc_today() - timedelta(days=1)
FIRST = YESTERDAY.replace(day=1)
PAGES = ("/ui/", "/ui/people", "/ui/seats", "/ui/coverage", "/ui/runs", "/ui/alerts")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = start_simulator(GroundTruth(seed=7, users=10), SimulatorOptions(page_cap=50))
    yield simulator
    simulator.server.should_exit = True


@pytest.fixture
async def client(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator
) -> AsyncIterator[httpx.AsyncClient]:
    settings = sim.settings(
        database_url=database_dsn, api_tokens=json.dumps(TOKENS), **sim.copilot()
    )
    async with serve(settings, token=None) as client:
        yield client


async def _finished(client: httpx.AsyncClient, location: str) -> dict[str, Any]:
    """The run at `location` (an API path) once it has ended, read with a reader's token."""
    return await wait_for(client, location, 120, {"Authorization": f"Bearer {READER}"})


async def _login(client: httpx.AsyncClient, token: str) -> str:
    response = await client.post("/ui/login", data={"token": token, "next": "/ui/people"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/people"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert token not in cookie
    page = await client.get("/ui/runs")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def test_pages_need_a_login_and_forms_a_csrf_token(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        refused = await client.get(path)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/ui/login")
    wrong = await client.post("/ui/login", data={"token": "x" * 40})
    assert wrong.status_code == 401 and "not one this service accepts" in wrong.text
    assert "x" * 40 not in wrong.text
    # Never a redirect to another site.
    away = await client.post("/ui/login", data={"token": READER, "next": "//elsewhere.test/"})
    assert away.headers["location"] == "/ui/"

    csrf = await _login(client, RUNNER)
    for path in PAGES:
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), path  # no inline script
        assert RUNNER not in page.text and TOKEN not in page.text
    day = str(YESTERDAY)
    form = {"start_date": day, "end_date": day, "source": "cursor"}
    forged = await client.post("/ui/runs", data={**form, "csrf": "0" * 64})
    assert forged.status_code == 403
    assert (await client.get("/runs", headers={"Authorization": f"Bearer {RUNNER}"})).json()[
        "runs"
    ] == []
    bad = await client.post("/ui/runs", data={**form, "start_date": "2999-01-01", "csrf": csrf})
    assert bad.status_code == 422 and "Nothing was queued" in bad.text
    queued = await client.post("/ui/runs", data={**form, "csrf": csrf})
    assert queued.status_code == 303 and queued.headers["location"].startswith("/ui/runs/")
    run = await _finished(client, queued.headers["location"].removeprefix("/ui"))
    assert run["requested_by"] == "runner"
    shown = await client.get(queued.headers["location"])
    assert "<td>cursor</td>" in shown.text and run["status"] in shown.text

    client.cookies.clear()
    csrf = await _login(client, READER)
    refused = await client.post("/ui/heal", data={"csrf": csrf})
    assert refused.status_code == 403 and "scope trigger" in refused.text
    out = await client.post("/ui/logout", data={"csrf": csrf})
    assert out.status_code == 303
    client.cookies.clear()
    assert (await client.get("/ui/")).status_code == 303


def _cells(html: str, table: str) -> list[list[str]]:
    """The rows of table `table` as the exact values of their cells (`data-value`, else text)."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = []
        for attributes, text in re.findall(r"<t[dh]([^>]*)>(.*?)</t[dh]>", row, re.S):
            value = re.search(r'data-value="([^"]*)"', attributes)
            cells.append(value.group(1) if value else re.sub(r"<[^>]+>", "", text).strip())
        rows.append(cells)
    return rows


async def test_pages_show_the_answers_numbers(client: httpx.AsyncClient, sim: Simulator) -> None:
    bearer = {"Authorization": f"Bearer {RUNNER}"}
    start = max(FIRST, YESTERDAY - timedelta(days=3))
    queued = await client.post("/runs", headers=bearer,
                               json={"start_date": str(start), "end_date": str(YESTERDAY)})  # fmt: skip
    assert (await _finished(client, queued.headers["location"]))["status"] == "succeeded"
    spend = await client.get(
        "/insights/spend", headers=bearer,
        params={"start": str(FIRST), "end": str(YESTERDAY), "group_by": ["tool", "platform"]},
    )  # fmt: skip
    want = {(r["group"]["tool"], r["group"]["platform"]): Decimal(r["billed_usd"])
            for r in spend.json()["rows"]}  # fmt: skip
    overview = await client.get("/ui/", headers=bearer)
    got = {(row[0], row[1]): Decimal(row[2]) for row in _cells(overview.text, "tool-totals")[1:]}
    assert got == want and any(want.values())
    assert len(overview.content) < 1_000_000

    people = await client.get(
        "/insights/spend", headers=bearer,
        params={"start": str(FIRST), "end": str(YESTERDAY), "group_by": ["person"]},
    )  # fmt: skip
    by_person = {r["group"]["person"]: Decimal(r["billed_usd"]) for r in people.json()["rows"]}
    table = await client.get("/ui/people", headers=bearer)
    shown = {row[0]: Decimal(row[3]) for row in _cells(table.text, "people")[1:]}
    assert shown == by_person
    top = max(by_person, key=lambda who: by_person[who])
    person = await client.get(f"/ui/people/{top}", headers=bearer)
    tools = _cells(person.text, "person-tools")[1:]
    assert sum(Decimal(row[2]) for row in tools) == by_person[top]
    assert all(row[8] != "—" for row in tools)  # how each is attributed

    seats = (await client.get("/insights/seats", headers=bearer)).json()
    page = await client.get("/ui/seats", headers=bearer)
    reclaimable = re.search(r'id="reclaimable" data-value="([^"]+)"', page.text)
    assert reclaimable and Decimal(reclaimable.group(1)) == Decimal(seats["reclaimable_usd"])
    assert f"Seats</dt><dd>{len(seats['seats'])}</dd>" in page.text

    coverage = (await client.get("/coverage", headers=bearer,
                                 params={"start": str(FIRST), "end": str(YESTERDAY)})).json()  # fmt: skip
    grid = await client.get("/ui/coverage", headers=bearer)
    finals = sum(day["state"] == "final" for day in coverage["days"])
    assert grid.text.count('data-state="final"') == finals
    missing = {(d["account"], d["source"]) for d in coverage["days"] if d["state"] == "missing"}
    assert grid.text.count('data-state="missing"') >= len(missing)


async def test_the_coverage_calendar_says_each_rows_last_fetch_and_error(
    client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    day = YESTERDAY - timedelta(days=1)
    async with db.acquire() as connection:
        await connection.execute(
            "INSERT INTO coverage_days (account, source, usage_date, last_fetched_at, final_after,"
            " last_rows, last_failed_at, last_error, failures) VALUES"
            " ('default', 'cursor', $1, '2026-12-01 10:00+00', '2027-01-01+00', 12, NULL, NULL, 0),"
            " ('default', 'cursor', $2, NULL, NULL, NULL, now(), 'HTTP 503 from Cursor', 1)",
            YESTERDAY, day,
        )  # fmt: skip
    page = await client.get(
        "/ui/coverage",
        params={"month": f"{day:%Y-%m}"},
        headers={"Authorization": f"Bearer {READER}"},
    )
    row = page.text.split('<th scope="row">cursor</th>', 1)[1].split("</tr>", 1)[0]
    if YESTERDAY.month == day.month:
        assert f"2026-12-01 10:00 ({YESTERDAY.isoformat()}, 12 rows)" in row
    assert f"✗ {day.isoformat()}: HTTP 503 from Cursor" in row
    assert 'data-state="failed"' in row
