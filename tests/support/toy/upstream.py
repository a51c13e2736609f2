"""The toy upstream as the registry knows it."""

from __future__ import annotations

from app.orchestration.sources.contract import Upstream
from tests.support.toy.client import TOY_CLIENT, ToyEndpoint
from tests.support.toy.facts import ToyLabel
from tests.support.toy.sources import ToySource

UPSTREAM = Upstream(
    name="toy",
    client=TOY_CLIENT,
    sources=(ToySource(),),
    endpoints=ToyEndpoint,
    labels=ToyLabel,
    simulator="tests.support.toy.simulator",
)
