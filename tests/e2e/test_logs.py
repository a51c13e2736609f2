"""Logs of a real service process: JSON lines, run context on run lines, no probes, no secrets."""

from __future__ import annotations

import json
import signal
from typing import Any

import httpx

from tests.e2e.conftest import AUTH, TOKEN, WINDOW, wait_for_run
from tests.support.services import BearerUnlessGiven, Simulator

RUN_EVENTS = {"part started", "source finished", "run finished", "upstream request retried"}


async def test_a_runs_logs_are_json_with_run_context_and_no_secrets(
    services: Any, sim: Simulator
) -> None:
    service = services(LOG_LEVEL="INFO")
    sim.fault("usage_report/claude_code", kind="status", status=503, times=2)  # some retries to log
    async with httpx.AsyncClient(
        auth=BearerUnlessGiven(TOKEN), base_url=service.url, timeout=30
    ) as client:
        await client.get("/livez")
        await client.get("/readyz")
        response = await client.post("/runs", json=WINDOW, headers=AUTH)
        run = await wait_for_run(client, response.headers["location"])
        await client.get("/metrics")
    assert run["status"] == "succeeded"
    service.process.send_signal(signal.SIGTERM)
    service.process.wait(timeout=30)
    stderr = service.logs()

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    assert lines
    run_lines = [line for line in lines if line.get("event") in RUN_EVENTS]
    assert {line["event"] for line in run_lines} >= {
        "part started",
        "source finished",
        "run finished",
        "upstream request retried",
    }
    assert all(line.get("run_id") == run["id"] for line in run_lines)
    per_source = [line for line in run_lines if line["event"] == "source finished"]
    assert {line["source"] for line in per_source} == {p["source"] for p in run["progress"]}
    assert all({"inserted", "updated", "unchanged", "pages"} <= line.keys() for line in per_source)
    summary = next(line for line in run_lines if line["event"] == "run finished")
    assert summary["rows_inserted"] == sum(p["rows_inserted"] for p in run["progress"])

    requests = [line for line in lines if line.get("event") == "request"]
    assert {line["route"] for line in requests} >= {"/runs", "/runs/{run_id}"}
    assert not {line["route"] for line in requests} & {"/livez", "/readyz", "/metrics"}

    for secret in (TOKEN, sim.options.cursor_api_key, sim.options.admin_api_key):
        assert secret not in stderr
