"""The service on a loopback port and Debian's Chromium driven by Playwright (never a
downloaded browser). Without /usr/bin/chromium these tests are skipped, unless
REQUIRE_BROWSER is set (as `.ci/run` sets it, after installing Chromium): then they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, async_playwright

from app.simulator.model import GroundTruth
from app.simulator.plumbing import SimulatorOptions
from tests.support.services import (  # noqa: F401 - fixtures
    Simulator,
    admin_dsn,
    database_dsn,
    db,
    logs_restored,
    pool,
    runner_and_reader,
    running_service,
    start_simulator,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As the machine's own probe starts it: no sandbox (root), no GPU, no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
RUNNER = "browser-runner-token-0123456789abcdef"
READER = "browser-reader-token-0123456789abcdef"


def _chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(
                f"REQUIRE_BROWSER is set and {CHROMIUM} is missing (apt-get install chromium)"
            )
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` runs these tests")
    return CHROMIUM


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = _chromium_or_skip()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = start_simulator(GroundTruth(seed=3, users=10), SimulatorOptions(page_cap=50))
    yield simulator
    simulator.server.should_exit = True


@dataclass
class Service:
    url: str


@pytest.fixture
def service(
    database_dsn: str, sim: Simulator, db: object, logs_restored: None
) -> Iterator[Service]:
    tokens = runner_and_reader(RUNNER, READER)
    settings = sim.settings(database_url=database_dsn, api_tokens=tokens, **sim.copilot())
    with running_service(settings) as url:
        yield Service(url)
