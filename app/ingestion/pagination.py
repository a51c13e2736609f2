"""Page objects and the parsing step every paginated client shares."""

from __future__ import annotations

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
