"""Windows of days, as upstreams that cap a request's span want them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta


def chunk_window(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    """Split [start, end] (inclusive days) into consecutive chunks of at most `days` days."""
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + timedelta(days=days - 1))
        yield chunk_start, chunk_end
        chunk_start = chunk_end + timedelta(days=1)
