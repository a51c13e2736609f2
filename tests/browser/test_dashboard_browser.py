"""Every page of the dashboard in headless Chromium (Debian's): no console error, charts drawn
with data, the ground truth's numbers, a run started from the form and seen finishing, a
logged-out visit refused, every control reachable with the keyboard alone.

With SCREENSHOTS_DIR set, each page is also saved there (docs/screenshots/ is made so).
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Browser, Page

from app.orchestration.run_request import utc_today
from tests.browser.conftest import READER, RUNNER, Service
from tests.integration.conftest import wait_for
from tests.integration.jobs import expected_totals
from tests.support.services import Simulator

YESTERDAY = utc_today() - timedelta(days=1)
# Four days of last month: complete whatever today is, and old enough for every upstream to
# have published them (GitHub's reports come up to two days late).
FIRST = (utc_today().replace(day=1) - timedelta(days=1)).replace(day=1)
LAST = (FIRST + timedelta(days=32)).replace(day=1) - timedelta(days=1)
SHOTS = os.environ.get("SCREENSHOTS_DIR")
# (The screenshots show the whole month.)
START, END = (FIRST, LAST) if SHOTS else (FIRST + timedelta(days=9), FIRST + timedelta(days=12))
MONTH = f"?month={FIRST:%Y-%m}"
PAGES = {"overview": f"/ui/{MONTH}", "people": f"/ui/people{MONTH}", "seats": "/ui/seats",
         "coverage": f"/ui/coverage{MONTH}", "runs": "/ui/runs", "alerts": "/ui/alerts"}  # fmt: skip
FOCUSABLE = "a[href], button, input:not([type=hidden]), select, [tabindex]:not([tabindex='-1'])"


async def _ingest(service: Service, db: asyncpg.Pool) -> None:
    bearer = {"Authorization": f"Bearer {RUNNER}"}
    async with httpx.AsyncClient(base_url=service.url, headers=bearer, timeout=30) as client:
        queued = await client.post("/runs", json={"start_date": str(START), "end_date": str(END)})
        assert queued.status_code == 202, queued.text
        run = await wait_for(client, queued.headers["location"], 120)
        assert run["status"] == "succeeded", run
    for _ in range(600):  # the rollups of the run's months, rebuilt after it
        async with db.acquire() as connection:
            if not await connection.fetchval("SELECT count(*) FROM rollup_stale_months"):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the rollups were not rebuilt")


async def _logged_in(browser: Browser, service: Service, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on(
        "console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    await page.goto(f"{service.url}/ui/login")
    await page.fill("#token", RUNNER)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{service.url}/ui/")
    return page


async def _cells(page: Page, table: str) -> list[list[str]]:
    """Each body row of `table`: the exact value of each cell (`data-value`), else its text."""
    return await page.eval_on_selector_all(
        f"#{table} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.dataset.value ?? c.textContent.trim()))",
    )


def _truth(sim: Simulator, copilot_days: set[date]) -> dict[tuple[str, str], Decimal]:
    """Billed USD of the ingested days per tool and platform, as the simulator's truth has it:
    Cursor's on-demand charges, Claude's cost report per platform, Copilot's net per user (of
    the days its billing was read: GitHub publishes a day's report up to two days late)."""
    truth = sim.truth
    cursor = truth.expected_cursor_spend(START, END).values()
    billed = {("cursor", "cursor"): sum((v["on_demand_cost_usd"] for v in cursor), Decimal(0))}
    for (_, platform), values in expected_totals(sim, START, END).items():
        key = ("claude", platform)
        billed[key] = billed.get(key, Decimal(0)) + values["billed_cost_usd"]
    billed[("copilot", "copilot")] = sum(
        (amount for day in copilot_days for user, amount in truth.expected_copilot_billed(day).items()
         if user is not None), Decimal(0),
    )  # fmt: skip
    return billed


def _api(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, headers={"Authorization": f"Bearer {READER}"})


async def _overview_is_the_truth(page: Page, service: Service, sim: Simulator) -> None:
    """Each chart drawn with data; the month's billed per tool and platform equal to the ground
    truth, to the last digit the upstream sent, and to the API's answer."""
    await page.goto(f"{service.url}/ui/{MONTH}")
    for chart, mark in (("spend", ".bar rect"), ("month", "path.line"), ("adoption", "path.line")):
        drawn = await page.eval_on_selector_all(
            f"figure[data-chart={chart}] svg {mark}",
            "marks => marks.filter(m => { const b = m.getBBox(); return b.width * b.height > 0"
            " || m.getTotalLength?.() > 0; }).length",
        )
        assert drawn > 0, chart
    totals = {(row[0], row[1]): Decimal(row[2]) for row in await _cells(page, "tool-totals")}
    async with _api(service) as api:
        coverage = (await api.get("/coverage", params={"source": "copilot_billing", "start": str(START),
                                                       "end": str(END)})).json()  # fmt: skip
        spend = (await api.get("/insights/spend", params={"start": str(FIRST), "end": str(LAST),
                                                          "group_by": ["tool", "platform"]})).json()  # fmt: skip
    read = {date.fromisoformat(d["day"]) for d in coverage["days"]
            if d["state"] in ("final", "provisional")}  # fmt: skip
    assert read  # the days' billing was read
    assert totals == _truth(sim, read)
    assert totals == {(r["group"]["tool"], r["group"]["platform"]): Decimal(r["billed_usd"])
                      for r in spend["rows"]}  # fmt: skip


async def _people_are_the_truth(page: Page, service: Service, sim: Simulator) -> None:
    """The people table's top person, followed by its link: their tools add up to their row,
    and their Cursor spend is the truth's."""
    await page.goto(f"{service.url}/ui/people{MONTH}")
    first = (await _cells(page, "people"))[0]
    await page.click("#people tbody tr:first-child a")
    await page.wait_for_load_state("networkidle")
    tools = {(row[0], row[1]): row for row in await _cells(page, "person-tools")}
    assert sum(Decimal(row[2]) for row in tools.values()) == Decimal(first[3])
    cursor = sum(
        (v["on_demand_cost_usd"] for (_, who), v in sim.truth.expected_cursor_spend(START, END).items()
         if who == first[0]), Decimal(0),
    )  # fmt: skip
    assert Decimal(tools[("cursor", "cursor")][2] if ("cursor", "cursor") in tools else 0) == cursor
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / "person.png"), full_page=True)


async def _seats_and_coverage_are_the_api(page: Page, service: Service) -> None:
    """Seats by status and what the idle ones cost; the coverage calendar's days by state."""
    async with _api(service) as api:
        seats = (await api.get("/insights/seats")).json()
        coverage = (
            await api.get("/coverage", params={"start": str(FIRST), "end": str(LAST)})
        ).json()
    await page.goto(f"{service.url}/ui/seats")
    assert Decimal(await page.get_attribute("#reclaimable", "data-value") or "") == Decimal(
        seats["reclaimable_usd"]
    )
    for status in {seat["status"] for seat in seats["seats"]}:
        shown = await page.locator(f"table[data-status={status}] tbody tr").count()
        assert shown == min(200, sum(seat["status"] == status for seat in seats["seats"])), status
    await page.goto(f"{service.url}/ui/coverage{MONTH}")
    for state in ("final", "provisional", "failed"):
        want = sum(day["state"] == state for day in coverage["days"])
        assert await page.locator(f"#coverage td[data-state={state}]").count() == want, state


async def test_a_logged_out_visit_is_refused(browser: Browser, service: Service) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{service.url}/ui/people")
    assert response is not None and "/ui/login" in page.url
    assert await page.locator("#people").count() == 0
    assert await page.locator("h1").inner_text() == "Log in"


async def test_every_page_in_chromium(
    browser: Browser, service: Service, sim: Simulator, db: asyncpg.Pool
) -> None:
    await _ingest(service, db)
    errors: list[str] = []
    page = await _logged_in(browser, service, errors)
    for name, path in PAGES.items():
        await page.goto(f"{service.url}{path}")
        await page.wait_for_load_state("networkidle")
        assert errors == [], errors
        assert await page.locator("main h1").count() == 1
        if SHOTS:
            await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
    await _overview_is_the_truth(page, service, sim)
    await _people_are_the_truth(page, service, sim)
    await _seats_and_coverage_are_the_api(page, service)
    assert errors == [], errors


async def test_a_run_started_from_the_form_is_seen_finishing(
    browser: Browser, service: Service
) -> None:
    errors: list[str] = []
    page = await _logged_in(browser, service, errors)
    await page.goto(f"{service.url}/ui/runs")
    await page.fill("#start_date", str(YESTERDAY))
    await page.fill("#end_date", str(YESTERDAY))
    await page.select_option("#source", "cursor")
    await page.click("text=Start the run")
    await page.wait_for_url(re.compile(r".*/ui/runs/[0-9a-f-]{36}$"))
    run_url = page.url
    # The page's script swaps the progress in until the run ends.
    await page.wait_for_selector("#progress[data-finished=true]", timeout=90_000)
    assert await page.locator("#progress").get_attribute("data-status") == "succeeded"
    await page.goto(f"{service.url}/ui/runs")
    row = page.locator(f"#runs a[href='{run_url.removeprefix(service.url)}']").locator(
        "xpath=../.."
    )
    assert "succeeded" in await row.inner_text()
    assert errors == [], errors


async def test_every_control_is_reached_with_the_keyboard(
    browser: Browser, service: Service
) -> None:
    errors: list[str] = []
    page = await _logged_in(browser, service, errors)
    for path in ("/ui/runs", "/ui/people", "/ui/coverage"):
        await page.goto(f"{service.url}{path}")
        wanted = await page.eval_on_selector_all(FOCUSABLE, "els => els.length")
        await page.evaluate(
            f'document.querySelectorAll("{FOCUSABLE}").forEach((e, i) => e.dataset.k = i)'
        )
        reached: set[str] = set()
        for _ in range(wanted * 2 + 5):
            await page.keyboard.press("Tab")
            key = await page.evaluate("document.activeElement?.dataset.k ?? ''")
            if key:
                reached.add(key)
            if len(reached) == wanted:
                break
        assert len(reached) == wanted, (path, wanted, sorted(reached))
        focused = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert focused != "none"  # where the focus is can be seen
    assert errors == [], errors


async def test_the_tables_work_without_javascript(
    browser: Browser, service: Service, db: asyncpg.Pool
) -> None:
    await _ingest(service, db)
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(f"{service.url}/ui/login")
    await page.fill("#token", READER)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{service.url}/ui/")
    await page.goto(f"{service.url}/ui/people{MONTH}")
    await page.click("#people thead >> text=Person")  # a sort link: the server sorts
    people = [row[0] for row in await _cells(page, "people")]
    assert people == sorted(people) and len(people) > 2
    await page.fill("#q", people[1])
    await page.click("text=Filter")
    assert [row[0] for row in await _cells(page, "people")] == [people[1]]
    await context.close()
