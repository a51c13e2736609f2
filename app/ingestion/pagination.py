"""Page objects and the parsing step every paginated client shares."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import IO, Any, Generic, TypeVar

import ijson
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.ingestion.http import (
    FromFile,
    InvalidBody,
    InvalidCursorError,
    MalformedPageError,
    RequestStats,
    UpstreamError,
    UpstreamHttp,
    json_with_decimals,
)
from app.logs import get_logger

log = get_logger(__name__)

# How often one chain may start again before its source fails: a cursor the upstream keeps
# rejecting, or pages that keep contradicting each other, are not going to settle.
MAX_RESTARTS = 3

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")  # a row of a page (a pydantic dataclass)


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
    exc: ValidationError, upstream: str, endpoint: str, where: str
) -> MalformedPageError:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    return MalformedPageError(
        f"{upstream} {endpoint} {where}: malformed page ({exc.error_count()} problem(s); "
        f"first: {location or 'body'}: {first.get('msg')})",
        upstream=upstream,
        endpoint=endpoint,
    )


def parse_page(model: type[M], raw: Any, *, upstream: str, endpoint: str, where: str) -> M:
    """Validate a page; a shape error names endpoint, window and page, never drops rows."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _malformed(exc, upstream, endpoint, where) from None


def exact_page(model: type[M], *, upstream: str, endpoint: str, where: str) -> Callable[[bytes], M]:
    """A decoder keeping every JSON number exact (non-integers as `Decimal`) before the page is
    validated: for pages with money in JSON numbers."""

    def decode(body: bytes) -> M:
        raw = json_with_decimals(body)
        return parse_page(model, raw, upstream=upstream, endpoint=endpoint, where=where)

    return decode


def json_page(model: type[M], *, upstream: str, endpoint: str, where: str) -> Callable[[bytes], M]:
    """A decoder validating a page straight from its JSON bytes — several times cheaper than
    JSON → dicts → model on pages of thousands of rows. Only for models with no money parsed
    from a JSON *number* (that goes through a float here; `json_with_decimals` keeps it
    exact)."""

    def decode(body: bytes) -> M:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                raise InvalidBody(str(exc)) from None
            raise _malformed(exc, upstream, endpoint, where) from None

    return decode


ITEMS_PER_PART = 2000


@dataclass(frozen=True)
class StreamedPage(Generic[R]):
    """A page whose envelope (everything but its items) is validated, and whose items are
    validated part by part as they are taken (`parts`).

    The body is a temporary file (`FromFile`): a page of 30,000 Cursor rows is 17 MB of JSON
    and would be 100 MB as validated rows. The file is parsed once to check the whole body and
    read the envelope, and again, part by part, for the items — so a page at the documented
    maximum size costs a part's rows in memory, whatever its size.
    """

    body: IO[bytes]
    envelope: BaseModel
    items_key: str
    item: type[R]
    where: str
    upstream: str
    endpoint: str

    def parts(self) -> Iterator[list[R]]:
        adapter = TypeAdapter(list[self.item])  # type: ignore[name-defined]

        def validated(batch: list[Any]) -> list[R]:
            try:
                return adapter.validate_python(batch)
            except ValidationError as exc:
                raise _malformed(exc, self.upstream, self.endpoint, self.where) from None

        batch: list[Any] = []
        try:
            self.body.seek(0)
            for raw in ijson.items(self.body, f"{self.items_key}.item", use_float=True):
                batch.append(raw)
                if len(batch) == ITEMS_PER_PART:
                    yield validated(batch)
                    batch = []
            if batch:
                yield validated(batch)
        finally:
            self.body.close()  # taken, or abandoned by a restarted chain


def streamed_page(
    envelope: type[BaseModel],
    items_key: str,
    item: type[R],
    *,
    upstream: str,
    endpoint: str,
    where: str,
) -> FromFile:
    """A decoder that checks the whole body and validates its envelope (every top-level key
    but `items_key`), leaving the items to `StreamedPage.parts`. Only for items with no money
    in JSON numbers (see `json_page`)."""

    def decode(body: IO[bytes]) -> StreamedPage[R]:
        top: dict[str, Any] = {items_key: []}
        if not body.read(4096).lstrip().startswith(b"{"):
            raise InvalidBody("the page is not a JSON object")
        try:
            for name in envelope.model_fields:
                if name == items_key:
                    continue
                # Each pass reads the body to its end (checking all of it) and builds only
                # this key's value; the envelopes read here have one such key.
                body.seek(0)
                values = list(ijson.items(body, name, use_float=True))
                if values:
                    top[name] = values[0]
        except ijson.JSONError as exc:
            raise InvalidBody(str(exc)) from None
        parsed = parse_page(envelope, top, upstream=upstream, endpoint=endpoint, where=where)
        return StreamedPage(body, parsed, items_key, item, where, upstream, endpoint)

    return FromFile(decode)


async def fetch_json_page(
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
    """One page of `model` (no money in JSON numbers), validated straight from its bytes."""
    page: M = await http.request_json(
        method,
        path,
        endpoint=endpoint,
        stats=stats,
        params=params,
        json_body=json_body,
        context=where,
        decode=json_page(model, upstream=http.upstream, endpoint=endpoint, where=where),
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
