"""A local stand-in for the Cursor Admin API and the Anthropic Admin/claude.ai APIs.

Serves the documented shapes from one `GroundTruth`, one router per upstream: Cursor (Basic
auth with an empty password, both daily-usage modes with the `period` echo), the Anthropic Admin
API (`x-api-key` + `anthropic-version`, its error envelope, report buckets oldest first including
empty days, `workspace_id: null` for the Default Workspace, opaque cursors bound to the query),
the Compliance feed, Enterprise Analytics, and the control plane (`/_sim/faults`,
`/_sim/restate`). Pages are generated on demand, so a large organisation is served in flat
memory.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.responses import Response

from app.orchestration.sources.contract import Upstream
from app.orchestration.sources.registry import REGISTRY
from app.simulator import control
from app.simulator.model import GroundTruth
from app.simulator.plumbing import Reject, Simulated, SimulatorOptions

__all__ = ["SimulatorOptions", "create_simulator"]


def create_simulator(
    truth: GroundTruth,
    options: SimulatorOptions | None = None,
    upstreams: Iterable[Upstream] | None = None,
) -> FastAPI:
    """The simulator of `upstreams` (the registry's by default)."""
    sim = Simulated(truth, options or SimulatorOptions())
    app = FastAPI(title="ai-usage-pipeline upstream simulator", docs_url=None, redoc_url=None)
    app.state.sim = sim
    # Shorthands tests and the CLI use.
    app.state.truth = sim.truth
    app.state.faults = sim.faults
    app.state.options = sim.options
    app.state.request_counts = sim.counts

    @app.exception_handler(Reject)
    async def rejected(request: Request, exc: Reject) -> Response:
        return exc.response

    for upstream in (
        REGISTRY.upstreams if upstreams is None else upstreams
    ):  # each upstream's routes live in its package
        if upstream.simulator is not None:
            app.include_router(importlib.import_module(upstream.simulator).router)
    app.include_router(control.router)
    return app
