"""Page objects and the parsing step every paginated client shares."""

from __future__ import annotations

import asyncio
import functools
import io
import mmap
import re
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import IO, Any, Generic, TypeVar, cast

import msgspec

from app.ingestion.bounds import SPOOL, SPOOL_IN_MEMORY_BYTES
from app.ingestion.errors import (
    InvalidBody,
    InvalidCursorError,
    MalformedPageError,
    NestedTooDeeply,
    UpstreamError,
)
from app.ingestion.http import FromFile, RequestStats, UpstreamHttp
from app.ingestion.models import page_decoded
from app.logs import get_logger

log = get_logger(__name__)

# How often one chain may start again before its source fails: a cursor the upstream keeps
# rejecting, or pages that keep contradicting each other, are not going to settle.
MAX_RESTARTS = 3

T = TypeVar("T")
M = TypeVar("M")  # a page or item model (app.ingestion.models)
R = TypeVar("R")  # a row of a page


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
    refreshed_at: datetime | None = None  # the upstream's freshness marker, where it gives one
    warning: str | None = None  # something the chain accepted that a person should know
    # More items of the same upstream page as the Page before (a large page handed on in parts).
    continued: bool = False


def _malformed(
    exc: msgspec.ValidationError | str, upstream: str, endpoint: str, where: str
) -> MalformedPageError:
    # msgspec names the first problem and where it is, e.g. "Expected `int`, got `str` - at
    # `$.data[3].totalApplies`"; it stops at the first.
    return MalformedPageError(
        f"{upstream} {endpoint} {where}: malformed page ({exc})",
        upstream=upstream,
        endpoint=endpoint,
    )


@functools.cache
def _decoder(model: Any) -> msgspec.json.Decoder[Any]:
    # Lax: a number sent as a string ("12"), as pydantic accepted, is still read as a number.
    return msgspec.json.Decoder(model, strict=False)


def decode_page(
    model: type[M], body: bytes | mmap.mmap, *, upstream: str, endpoint: str, where: str
) -> M:
    """A page validated straight from its JSON bytes. A shape error names endpoint, window and
    page and never drops rows; a body that is not JSON is retried (`InvalidBody`)."""
    try:
        page: M = _decoder(cast(Hashable, model)).decode(body)
    except RecursionError:  # msgspec's own depth limit is far deeper than any page
        raise NestedTooDeeply from None
    except msgspec.ValidationError as exc:
        raise _malformed(exc, upstream, endpoint, where) from None
    except msgspec.DecodeError as exc:
        raise InvalidBody(str(exc)) from None
    finally:
        page_decoded()
    return page


def convert_item(model: type[M], raw: Any, *, upstream: str, endpoint: str, where: str) -> M:
    """An item already decoded from JSON (a list whose shape varies), validated as `model`."""
    try:
        return msgspec.convert(raw, model, strict=False)
    except msgspec.ValidationError as exc:
        raise _malformed(exc, upstream, endpoint, where) from None


def typed_page(model: type[M], *, upstream: str, endpoint: str, where: str) -> Callable[[bytes], M]:
    """A decoder for `request_json`: the page as `model` (see `decode_page`)."""
    return functools.partial(decode_page, model, upstream=upstream, endpoint=endpoint, where=where)


ITEMS_PER_PART = 2000


@dataclass(frozen=True)
class StreamedPage(Generic[R]):
    """A page whose envelope (everything but its rows) is validated, and whose rows are
    validated part by part as they are taken (`parts`).

    A page of 30,000 Cursor rows is 17 MB of JSON and 40 MB as rows. Its body waits on disk
    (`FromFile`) while the page before is processed; when it is decoded, its rows are cut, still
    as JSON, into parts of `ITEMS_PER_PART` written to `body`, so only one part is ever in
    memory as rows, whatever the page's size.
    """

    body: IO[bytes]  # the parts, one JSON array after another
    part_sizes: list[int]  # bytes of each part in `body`
    envelope: Any  # the page without its rows
    items_key: str
    item: type[R]
    where: str
    upstream: str
    endpoint: str

    def parts(self) -> Iterator[list[R]]:
        decoder = _decoder(list[self.item])  # type: ignore[name-defined]
        first = 0  # the page's index of the part's first row
        try:
            self.body.seek(0)
            for size in self.part_sizes:
                try:
                    part: list[R] = decoder.decode(self.body.read(size))
                except msgspec.ValidationError as exc:
                    message = _in_page(str(exc), self.items_key, first)
                    raise _malformed(message, self.upstream, self.endpoint, self.where) from None
                finally:
                    page_decoded()
                first += len(part)
                yield part
                del part
        finally:
            self.body.close()  # taken, or abandoned by a restarted chain


_PART_ROW = re.compile(r"`\$\[(\d+)\]")


def _in_page(message: str, items_key: str, first: int) -> str:
    """msgspec's location in a part as the page's: `$[3]` of a part is `$.data[2003]`."""
    at = _PART_ROW.search(message)
    if at is None:
        return message
    return f"{message[: at.start()]}`$.{items_key}[{first + int(at[1])}]{message[at.end() :]}"


@contextmanager
def _mapped(body: IO[bytes]) -> Iterator[bytes | mmap.mmap]:
    """The body's bytes, mapped from its file rather than read into memory."""
    size = body.seek(0, io.SEEK_END)
    body.seek(0)
    if size < SPOOL_IN_MEMORY_BYTES:
        yield body.read()
        return
    mapped = mmap.mmap(body.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield mapped
    finally:
        mapped.close()


_READ_BYTES = 1 << 20
_RAW_ROWS = msgspec.json.Decoder(list[msgspec.Raw])  # syntax and row count, no row built
_BETWEEN_ROWS = re.compile(rb"\}\s*,\s*\{")
_AFTER_LAST_ROW = re.compile(rb"\}\s*\]")
_EMPTY_REST = re.compile(rb"\s*\]")


class _NotCut(Exception):
    """The body could not be cut into parts by its row boundaries alone (see `_cut_rows`)."""


def _cut_rows(body: IO[bytes], items_key: str, parts: IO[bytes]) -> tuple[bytes, list[int]]:
    """Cut the rows of `items_key` into JSON arrays of `ITEMS_PER_PART` rows on `parts`, reading
    the body a megabyte at a time; return the page without its rows, and each part's size.

    Rows are cut where one object ends and the next begins (`},{`). Such bytes inside a string
    or a nested object would make a part that is not valid JSON, so every part is checked
    (`list[msgspec.Raw]`: syntax and row count, no row built) and any doubt raises `_NotCut`:
    the caller then decodes the page whole. A cut never changes what a row says."""
    body.seek(0)
    buffer = body.read(_READ_BYTES)
    opening = re.search(rb'"' + re.escape(items_key.encode()) + rb'"\s*:\s*\[', buffer)
    if opening is None:
        raise _NotCut
    head = buffer[: opening.end()]
    buffer = buffer[opening.end() :]  # from the first row on (a part starts at offset 0)
    sizes: list[int] = []

    def write(part: bytes, rows: int) -> None:
        array = b"[" + part + b"]"
        try:
            if len(_RAW_ROWS.decode(array)) != rows:
                raise _NotCut
        except (msgspec.DecodeError, RecursionError):  # the whole decode gives the error
            raise _NotCut from None
        sizes.append(parts.write(array))

    if empty := _EMPTY_REST.match(buffer):  # no rows at all
        return head + b"]" + buffer[empty.end() :] + body.read(), sizes
    rows_in_part = 0  # boundaries seen in the part being cut (its rows, less one)
    last_row = 0  # where the last row seen begins
    scanned = 0
    while True:
        for boundary in _BETWEEN_ROWS.finditer(buffer, scanned):
            rows_in_part += 1
            last_row = boundary.end() - 1
            if rows_in_part == ITEMS_PER_PART:
                write(buffer[: boundary.start() + 1], rows_in_part)
                buffer = buffer[last_row:]
                rows_in_part, last_row, scanned = 0, 0, 0
                break
        else:
            chunk = body.read(_READ_BYTES)
            if not chunk:
                break
            # A boundary split by the read is found again, and none is counted twice. (One
            # spread over more whitespace than this is missed: its part then fails the row
            # count, and the page is decoded whole.)
            scanned = max(last_row, len(buffer) - 64)
            buffer += chunk
    end = _AFTER_LAST_ROW.search(buffer, last_row)
    if end is None:
        raise _NotCut
    write(buffer[: end.start() + 1], rows_in_part + 1)
    return head + b"]" + buffer[end.end() :], sizes


def _decoded_rest(envelope: type[Any], rest: bytes, items_key: str) -> Any:
    """The page without the rows `_cut_rows` took, if those were all of its rows. Otherwise
    (an `items_key` nested earlier in the page was cut instead, say) the page is decoded whole,
    which also gives any error its own words."""
    try:
        checked = _decoder(cast(Hashable, envelope)).decode(rest)
    except (msgspec.DecodeError, RecursionError):  # ValidationError included
        raise _NotCut from None
    finally:
        page_decoded()
    if getattr(checked, items_key):
        raise _NotCut
    return checked


def streamed_page(
    envelope: type[Any],
    items_key: str,
    item: type[R],
    *,
    upstream: str,
    endpoint: str,
    where: str,
) -> FromFile:
    """A decoder that checks the page and validates its `envelope` — the page's model with
    `items_key` as a list of `msgspec.Raw` — and writes the rows, still JSON, to a new file in
    parts for `StreamedPage.parts`.

    The body is read a megabyte at a time and cut at row boundaries (`_cut_rows`): a page of
    30,000 Cursor rows never takes 17 MB of memory. A body that cannot be cut so is decoded
    whole from its mapped file."""

    def decode(body: IO[bytes]) -> StreamedPage[R]:
        parts = SPOOL.file()  # the page owns it
        try:
            try:
                rest, sizes = _cut_rows(body, items_key, parts)
                checked = _decoded_rest(envelope, rest, items_key)
            except _NotCut:
                parts.seek(0)
                parts.truncate()
                checked, sizes = _cut_decoded(body, envelope, items_key, parts, where=where,
                                              upstream=upstream, endpoint=endpoint)  # fmt: skip
        except BaseException:
            parts.close()
            raise
        finally:
            body.close()
        return StreamedPage(parts, sizes, checked, items_key, item, where, upstream, endpoint)

    return FromFile(decode)


def _cut_decoded(
    body: IO[bytes],
    envelope: type[Any],
    items_key: str,
    parts: IO[bytes],
    *,
    where: str,
    upstream: str,
    endpoint: str,
) -> tuple[Any, list[int]]:
    """`_cut_rows` for any JSON: the page decoded whole (rows as `msgspec.Raw`) from its mapped
    file, then written in parts."""
    sizes: list[int] = []
    with _mapped(body) as contents:
        checked = decode_page(envelope, contents, upstream=upstream, endpoint=endpoint, where=where)
        rows: list[msgspec.Raw] = getattr(checked, items_key)
        for start in range(0, len(rows), ITEMS_PER_PART):
            sizes.append(parts.write(b"[" + b",".join(rows[start : start + ITEMS_PER_PART]) + b"]"))
        # The rows point into the mapped body: gone before it is unmapped.
        checked = msgspec.structs.replace(checked, **{items_key: []})
        del rows
    return checked, sizes


async def fetch_page(
    http: UpstreamHttp,
    method: str,
    path: str,
    model: type[M],
    *,
    endpoint: str,
    stats: RequestStats,
    where: str,
    params: Sequence[tuple[str, str | int]] | None = None,
    json_body: Mapping[str, Any] | None = None,
) -> M:
    """One page of `model`, validated straight from its bytes."""
    page: M = await http.request_json(
        method,
        path,
        endpoint=endpoint,
        stats=stats,
        params=params,
        json_body=json_body,
        context=where,
        decode=typed_page(model, upstream=http.upstream, endpoint=endpoint, where=where),
    )
    return page


# A 30-day claude_code run against the simulator at 50 ms per page took 20.5 s with no turn,
# 20.2 s with one and 18.3 s with three or more.
_LOOP_TURNS_TO_SEND = 4


async def prefetched(pages: AsyncIterator[T]) -> AsyncIterator[T]:
    """Yield `pages`, fetching the next while the caller processes this one.

    Upstream latency then overlaps parsing and writing instead of adding to it. At most two
    pages are alive — the one being processed and the one being fetched — so memory stays
    bounded; an upstream error surfaces where its page would have.
    """
    pending: asyncio.Future[T] = asyncio.ensure_future(anext(pages))
    try:
        while True:
            try:
                page = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(pages))
            # A new task only runs when the loop gets control, and it needs a few turns (rate
            # limiter, connection pool) to put its request on the wire; give it those before
            # the caller's CPU-bound processing, or the fetch would not overlap it at all.
            for _ in range(_LOOP_TURNS_TO_SEND):
                await asyncio.sleep(0)
            yield page
            del page
    finally:
        pending.cancel()
        await asyncio.wait([pending])  # our own cancellation still propagates
        if not pending.cancelled():
            pending.exception()  # retrieved: an abandoned fetch's error is not "unhandled"
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            await aclose()


class InconsistentChain(UpstreamError):
    """The pages of one chain contradict each other (e.g. members joined or left while it was
    read): the chain is read again from page 1."""


async def restartable(
    start: Callable[[], AsyncIterator[Page[T]]], *, upstream: str, endpoint: str, where: str
) -> AsyncIterator[Page[T]]:
    """The chain `start()` reads, started again from page 1 when the upstream rejects or expires
    a page cursor on a follow-up page (400 / 410), or when the chain proves inconsistent.

    The first page of a chain started again is flagged `restarted`; consumers discard what they
    hold of the chain and drop what it replays (app.orchestration.sources.assembly). A cursor
    rejected on the first page is a real error, and so is a chain that will not settle after
    MAX_RESTARTS attempts."""
    restarts = 0
    while True:
        yielded = False
        try:
            async for page in start():
                if restarts and not yielded:
                    page = replace(page, restarted=True)
                yielded = True
                yield page
                del page  # not alive while the next one downloads
            return
        except InvalidCursorError as exc:
            if not yielded or restarts >= MAX_RESTARTS:
                raise
            reason = str(exc)
        except InconsistentChain as exc:
            if restarts >= MAX_RESTARTS:
                raise UpstreamError(
                    f"{exc} (still after {restarts + 1} readings)",
                    upstream=upstream,
                    endpoint=endpoint,
                ) from None
            reason = str(exc)
        restarts += 1
        log.warning(
            "page chain restarted", upstream=upstream, endpoint=endpoint, where=where, reason=reason
        )
