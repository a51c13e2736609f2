"""Page objects and the parsing step every paginated client shares."""

from __future__ import annotations

import asyncio
import functools
import mmap
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Generic, TypeVar, cast

import msgspec

from app.ingestion.decoding import Params
from app.ingestion.errors import (
    InvalidBody,
    InvalidCursorError,
    MalformedPageError,
    NestedTooDeeply,
    UpstreamError,
)
from app.ingestion.http import RequestStats, UpstreamHttp
from app.ingestion.models import page_decoded
from app.logs import get_logger

log = get_logger(__name__)

# How often one chain may start again before its source fails: a cursor the upstream keeps
# rejecting, or pages that keep contradicting each other, are not going to settle.
MAX_RESTARTS = 3

T = TypeVar("T")
M = TypeVar("M")  # a page or item model (app.ingestion.models)


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


def malformed(
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
def page_decoder(model: Hashable) -> msgspec.json.Decoder[object]:
    # Lax: a number sent as a string ("12"), as pydantic accepted, is still read as a number.
    return msgspec.json.Decoder(model, strict=False)


def decode_page(
    model: type[M], body: bytes | mmap.mmap, *, upstream: str, endpoint: str, where: str
) -> M:
    """A page validated straight from its JSON bytes. A shape error names endpoint, window and
    page and never drops rows; a body that is not JSON is retried (`InvalidBody`)."""
    try:
        page = cast(M, page_decoder(cast(Hashable, model)).decode(body))
    except RecursionError:  # msgspec's own depth limit is far deeper than any page
        raise NestedTooDeeply from None
    except msgspec.ValidationError as exc:
        raise malformed(exc, upstream, endpoint, where) from None
    except msgspec.DecodeError as exc:
        raise InvalidBody(str(exc)) from None
    finally:
        page_decoded()
    return page


def convert_item(model: type[M], raw: object, *, upstream: str, endpoint: str, where: str) -> M:
    """An item already decoded from JSON (a list whose shape varies), validated as `model`."""
    try:
        return msgspec.convert(raw, model, strict=False)
    except msgspec.ValidationError as exc:
        raise malformed(exc, upstream, endpoint, where) from None


def typed_page(model: type[M], *, upstream: str, endpoint: str, where: str) -> Callable[[bytes], M]:
    """A decoder for `request_json`: the page as `model` (see `decode_page`)."""
    return functools.partial(decode_page, model, upstream=upstream, endpoint=endpoint, where=where)


async def fetch_page(
    http: UpstreamHttp,
    method: str,
    path: str,
    model: type[M],
    *,
    endpoint: str,
    stats: RequestStats,
    where: str,
    params: Params | None = None,
    json_body: Mapping[str, object] | None = None,
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
