"""What one upstream may cost us, bounded: bytes of a body (decompressed, as they arrive),
bytes waiting on disk, pages of one chain, and a chain that comes back to where it was.

A broken or hostile upstream can send a gzip bomb, a page that never ends, a cursor list that
cycles (A, B, A, B…) or `has_more: true` for ever. Each of these ends in an `UpstreamError`
naming the upstream, the endpoint and the setting that bounds it — never in a full disk, an
exhausted pod or a run that never ends.
"""

from __future__ import annotations

import os
import tempfile
import threading
import weakref
import zlib
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

if TYPE_CHECKING:  # typing only: collections.abc.Buffer is Python 3.12's
    from typing_extensions import Buffer

from app.ingestion.errors import MalformedPageError, UpstreamError
from app.scratch import scratch_dir

# A body read for a `FromFile` decoder stays in memory up to this size, beyond it on disk.
SPOOL_IN_MEMORY_BYTES = 1 << 20
# Decompression hands on at most this much at a time, whatever one network read expands to.
_INFLATE_STEP = 1 << 20
# An error body is read this far for its message, and no further.
ERROR_BODY_BYTES = 64 << 10
SPOOL_PREFIX = "aup-spool"


@dataclass(frozen=True)
class Bounds:
    """Per-upstream limits (from settings; generous defaults for tests and tools)."""

    request_deadline_seconds: float = 300.0
    max_page_bytes: int = 256 << 20
    max_pages: int = 20_000


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class BadEncoding(Exception):
    """A compressed body that does not decompress: corrupt or cut short in transit."""


async def bounded_body(
    raw: AsyncIterator[bytes], encoding: str, limit: int, write: Callable[[bytes], object]
) -> None:
    """Decode `raw` (the body as sent) into `write`, stopping past `limit` decoded bytes.

    httpx decodes a whole network read at once, so 64 KiB of gzip can become 64 MiB in one
    step; here a read is inflated a megabyte at a time and the count is checked between steps.
    """
    encoding = encoding.strip().lower()
    inflater = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
    elif encoding not in ("", "identity"):
        raise BadEncoding(f"Content-Encoding {encoding!r} was not asked for")
    total = 0

    def emit(data: bytes) -> None:
        nonlocal total
        total += len(data)
        if total > limit:
            raise BodyTooLarge(limit)
        write(data)

    try:
        async for chunk in raw:
            if inflater is None:
                emit(chunk)
                continue
            data = chunk
            while data:
                emit(inflater.decompress(data, _INFLATE_STEP))
                data = inflater.unconsumed_tail
        if inflater is not None:
            emit(inflater.flush())
            if not inflater.eof:
                raise BadEncoding(f"{encoding} body cut short")
    except zlib.error as exc:
        raise BadEncoding(f"{encoding} body does not decompress ({exc})") from None


class CountedSpool(tempfile.SpooledTemporaryFile[bytes]):
    """A spooled temporary file whose writes are taken from a budget, given back on close."""

    def __init__(self, budget: SpoolBudget, *, dir: str) -> None:
        super().__init__(max_size=SPOOL_IN_MEMORY_BYTES, dir=dir)
        self.budget = budget
        self.counted = [0]

    def write(self, s: Buffer) -> int:
        size = memoryview(s).nbytes
        self.budget._take(size)
        self.counted[0] += size
        return super().write(s)

    def close(self) -> None:
        self.budget._release(self.counted)
        super().close()


class SpoolBudget:
    """Bytes of page bodies waiting on disk in this process, with a cap (SPOOL_MAX_BYTES).

    Pages wait in a directory of this process's own (`app.scratch`), so a killed process's
    leftovers are removed by the next start."""

    def __init__(self, max_bytes: int = 2 << 30, parent: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.parent = parent
        self.held = 0
        self._lock = threading.Lock()
        self._directory: tuple[int, Path] | None = None  # (pid, directory): a child makes its own

    def directory(self) -> Path:
        with self._lock:
            if self._directory is None or self._directory[0] != os.getpid():
                self._directory = (os.getpid(), scratch_dir(SPOOL_PREFIX, self.parent))
            return self._directory[1]

    def file(self) -> IO[bytes]:
        """A spooled temporary file whose writes count against the budget until it is gone."""
        spool = CountedSpool(self, dir=str(self.directory()))
        weakref.finalize(spool, self._release, spool.counted)  # never closed: when it is freed
        return cast(IO[bytes], spool)

    def _take(self, size: int) -> None:
        with self._lock:
            if self.held + size > self.max_bytes:
                raise SpoolFull(self.max_bytes)
            self.held += size

    def _release(self, counted: list[int]) -> None:
        with self._lock:
            self.held -= counted[0]
            counted[0] = 0  # released once, whether closed or freed


class SpoolFull(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"pages waiting on disk passed {limit} bytes (SPOOL_MAX_BYTES)")


SPOOL = SpoolBudget()


def configure_spool(max_bytes: int, parent: Path | None) -> None:
    """Set where this process's spool directory is made, and its cap (the clients' factory
    does, from settings)."""
    SPOOL.max_bytes = max_bytes
    SPOOL.parent = parent


class ChainGuard:
    """One page chain's bounds: at most `max_pages` pages, and no cursor, id or page marker
    seen twice (a chain that returns to where it was would never end)."""

    def __init__(self, upstream: str, endpoint: str, where: str, max_pages: int) -> None:
        self.upstream, self.endpoint, self.where = upstream, endpoint, where
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[Hashable] = set()

    def page(self) -> None:
        """Count one page; past the cap, the chain fails."""
        self.pages += 1
        if self.pages > self.max_pages:
            raise UpstreamError(
                f"{self.upstream} {self.endpoint} {self.where}: still more pages after"
                f" {self.max_pages} (UPSTREAM_MAX_PAGES_PER_CHAIN); the upstream keeps saying"
                " there is more",
                upstream=self.upstream,
                endpoint=self.endpoint,
            )

    def advance(self, marker: Hashable, name: str = "cursor") -> None:
        """The chain moves on to `marker` (a cursor, a last id); none, or one seen before,
        fails it."""
        if not marker:
            raise MalformedPageError(
                f"{self.upstream} {self.endpoint} {self.where}: page {self.pages} says there is"
                f" more but gives no {name}",
                upstream=self.upstream,
                endpoint=self.endpoint,
            )
        if marker in self._seen:
            raise UpstreamError(
                f"{self.upstream} {self.endpoint} {self.where}: page {self.pages} points back"
                f" to a page already read ({_short(marker)}); the chain would never end",
                upstream=self.upstream,
                endpoint=self.endpoint,
            )
        self._seen.add(marker)


def _short(marker: Hashable) -> str:
    text = str(marker)
    return text if len(text) <= 40 else text[:37] + "…"
