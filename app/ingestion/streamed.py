"""Large pages taken a part at a time: a body waits on disk and is cut, where one row ends and
the next begins, into parts validated one after another (`streamed_page`)."""

from __future__ import annotations

import io
import mmap
import re
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import GenericAlias
from typing import IO, Generic, TypeVar, cast

import msgspec

from app.ingestion.bounds import SPOOL, SPOOL_IN_MEMORY_BYTES
from app.ingestion.decoding import FromFile
from app.ingestion.models import page_decoded
from app.ingestion.pagination import decode_page, malformed, page_decoder
from app.logs import get_logger

log = get_logger(__name__)

R = TypeVar("R")  # a row of a page
Envelope = TypeVar("Envelope", bound=msgspec.Struct)  # a page without its rows

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
    envelope: msgspec.Struct  # the page without its rows, as its envelope model
    items_key: str
    item: type[R]
    where: str
    upstream: str
    endpoint: str

    def parts(self) -> Iterator[list[R]]:
        decoder = page_decoder(GenericAlias(list, (self.item,)))  # list[item]
        first = 0  # the page's index of the part's first row
        try:
            self.body.seek(0)
            for size in self.part_sizes:
                try:
                    part = cast(list[R], decoder.decode(self.body.read(size)))
                except msgspec.ValidationError as exc:
                    message = _in_page(str(exc), self.items_key, first)
                    raise malformed(message, self.upstream, self.endpoint, self.where) from None
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


def _decoded_rest(envelope: type[Envelope], rest: bytes, items_key: str) -> Envelope:
    """The page without the rows `_cut_rows` took, if those were all of its rows. Otherwise
    (an `items_key` nested earlier in the page was cut instead, say) the page is decoded whole,
    which also gives any error its own words."""
    try:
        checked = cast(Envelope, page_decoder(cast(Hashable, envelope)).decode(rest))
    except (msgspec.DecodeError, RecursionError):  # ValidationError included
        raise _NotCut from None
    finally:
        page_decoded()
    if getattr(checked, items_key):
        raise _NotCut
    return checked


def streamed_page(
    envelope: type[Envelope],
    items_key: str,
    item: type[R],
    *,
    upstream: str,
    endpoint: str,
    where: str,
) -> FromFile[StreamedPage[R]]:
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
    envelope: type[Envelope],
    items_key: str,
    parts: IO[bytes],
    *,
    where: str,
    upstream: str,
    endpoint: str,
) -> tuple[Envelope, list[int]]:
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
