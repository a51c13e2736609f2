"""The sources a run can ingest, found by name. The job, the run requests, the API, the CLI
and the metrics know sources only through a registry; `REGISTRY` holds the built-in ones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.config import Settings, SettingsError
from app.orchestration.sources.contract import Source
from app.upstreams.anthropic.sources.claude_ai import ClaudeAiSource
from app.upstreams.anthropic.sources.claude_code import ClaudeCodeSource
from app.upstreams.anthropic.sources.claude_cost import ClaudeCostSource
from app.upstreams.anthropic.sources.claude_usage import ClaudeUsageSource
from app.upstreams.cursor.sources.daily_usage import CursorSource
from app.upstreams.cursor.sources.usage_events import CursorSpendSource


class SourceRegistry:
    """Sources by name, in the order they were registered (the order runs list them in)."""

    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self._sources: dict[str, Source] = {}
        for source in sources:
            self.register(source)

    def register(self, source: Source) -> Source:
        if source.name in self._sources:
            raise ValueError(f"a source named {source.name!r} is registered already")
        unknown = [name for name in source.requires if name not in self._sources]
        if unknown:
            raise ValueError(f"{source.name} requires unregistered source(s): {unknown}")
        self._sources[source.name] = source
        return source

    def unregister(self, name: str) -> None:
        self._sources.pop(name, None)

    def __iter__(self) -> Iterator[Source]:
        return iter(self._sources.values())

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def get(self, name: str) -> Source:
        return self._sources[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def check_settings(self, settings: Settings) -> None:
        """Settings that name sources name registered ones (a one-line error otherwise)."""
        unknown = sorted(set(settings.revision_horizon_days) - set(self._sources))
        if unknown:
            raise SettingsError(
                f"invalid setting REVISION_HORIZON_DAYS: unknown source(s) {', '.join(unknown)}"
                f" (known: {', '.join(self._sources)})"
            )

    def configured(self, settings: Settings) -> list[str]:
        """Names of the sources the settings enable, in registry order."""
        return [source.name for source in self if source.enabled(settings)]


REGISTRY = SourceRegistry(
    [
        CursorSource(),
        CursorSpendSource(),
        ClaudeCodeSource(),
        ClaudeUsageSource(),
        ClaudeCostSource(),
        ClaudeAiSource(),
    ]
)
