"""Page objects and the parsing step every paginated client shares."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from app.ingestion.http import MalformedPageError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One upstream page.

    `restarted` is set on the first page after the upstream rejected a cursor and the chain
    began again: the consumer discards what it buffered from this chain. `last` marks the
    final page of a chain (e.g. one Cursor window chunk), after which the days of its `window`
    are complete.
    """

    items: list[T]
    number: int
    restarted: bool = False
    last: bool = False
    window: tuple[date, date] | None = None


def parse_page(model: type[M], raw: Any, *, upstream: str, endpoint: str, where: str) -> M:
    """Validate a page; a shape error names endpoint, window and page, never drops rows."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        raise MalformedPageError(
            f"{upstream} {endpoint} {where}: malformed page ({exc.error_count()} problem(s); "
            f"first: {location or 'body'}: {first.get('msg')})",
            upstream=upstream,
            endpoint=endpoint,
        ) from None


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


async def prefetched(pages: AsyncIterator[T], depth: int = 1) -> AsyncIterator[T]:
    """Yield `pages`, fetching the next while the caller processes this one.

    Upstream latency then overlaps parsing and writing instead of adding to it. At most
    `depth` fetched pages wait (plus one being fetched, one being processed), so memory stays
    bounded; an upstream error surfaces where the page would have.
    """
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for page in pages:
                await queue.put(page)
        except Exception as error:  # handed to the consumer, raised there
            await queue.put(_Failed(error))
        else:
            await queue.put(_DONE)

    task = asyncio.create_task(pump(), name="prefetch-pages")
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
