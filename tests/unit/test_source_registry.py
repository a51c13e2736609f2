"""The source registry: names are unique, requirements are registered first, and the run-request
rules bring required sources along in registry order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.config import Settings, load_settings
from app.orchestration.run_request import InvalidRunRequest, resolve_sources
from app.orchestration.sources.contract import Source, SourceRun
from app.orchestration.sources.registry import REGISTRY, SourceRegistry


def _source(name: str, requires: tuple[str, ...] = (), enabled: bool = True) -> Source:
    class Named(Source):
        table = "fact_claude_daily_usage"
        revision_horizon = timedelta(days=1)

        def enabled(self, settings: Settings) -> bool:
            return enabled

        async def ingest(self, run: SourceRun) -> None:
            raise AssertionError("not run here")

    Named.name = name
    Named.requires = requires
    return Named()


def test_names_are_unique_and_requirements_come_first() -> None:
    registry = SourceRegistry(sources=[_source("a")])
    with pytest.raises(ValueError, match="registered already"):
        registry.register(_source("a"))
    with pytest.raises(ValueError, match="requires unregistered"):
        registry.register(_source("b", requires=("c",)))
    registry.register(_source("b", requires=("a",)))
    assert registry.names() == ("a", "b")


def test_required_sources_come_along_in_registry_order() -> None:
    registry = SourceRegistry(sources=[_source("usage"), _source("cost", requires=("usage",))])
    assert resolve_sources(load_settings(), ["cost"], registry) == ("usage", "cost")


def test_a_required_source_that_is_not_configured_is_refused() -> None:
    registry = SourceRegistry(
        sources=[_source("usage", enabled=False), _source("cost", requires=("usage",))]
    )
    with pytest.raises(InvalidRunRequest, match="not configured: usage"):
        resolve_sources(load_settings(), ["cost"], registry)


def test_the_built_in_sources_each_declare_table_and_horizon() -> None:
    assert REGISTRY.names() == (
        "cursor", "cursor_spend", "claude_code", "claude_usage", "claude_cost", "claude_ai",
        "copilot_usage", "copilot_billing",
    )  # fmt: skip
    assert {source.table for source in REGISTRY} == {
        "fact_cursor_daily_usage",
        "fact_claude_daily_usage",
        "fact_copilot_daily_usage",
        "fact_copilot_billing_daily",
    }
    for source in REGISTRY:
        assert source.revision_horizon >= timedelta(days=1), source.name
    assert REGISTRY.get("claude_cost").requires == ("claude_usage",)


def test_a_source_waits_only_on_sources_registered_before_it() -> None:
    from app.orchestration.sources.contract import After, Per

    registry = SourceRegistry(sources=[_source("code")])
    waiting = _source("usage")
    type(waiting).after = (After("cost", Per.DAY),)
    with pytest.raises(ValueError, match="waits on unregistered source"):
        registry.register(waiting)
    type(waiting).after = (After("code", Per.DAY),)
    registry.register(waiting)
    assert registry.names() == ("code", "usage")
