"""Content digests of the rows written for one (table, source, day).

A re-run whose rows hash to the digest stored with the day has nothing to write and skips the
day — cheaper than comparing row by row in the database, and far cheaper than rewriting. Rows
are encoded as JSON (orjson, `Decimal` as its exact string) in the order given; a different
order or encoding only costs one row-by-row comparison, never a wrong skip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
import xxhash

# Bump when the encoding changes: old digests then simply stop matching.
_VERSION = b"ai-usage-pipeline/day-digest/1"


# orjson calls this for every value it has no encoding of: a Decimal is its exact string, and
# anything else fails (TypeError) rather than be digested in some ambiguous form. The unbound
# C method saves a Python frame per value on the hot path.
_default = Decimal.__str__


def encode_rows(rows: Sequence[Sequence[object]]) -> bytes:
    """Rows as comma-led JSON array elements: chunks concatenate to the same bytes however a
    day's rows were split (pages), and `decode_rows` reads the concatenation back."""
    if not rows:
        return b""
    return b"," + orjson.dumps(rows, default=_default)[1:-1]


def decode_rows(encoded: bytes) -> list[list[Any]]:  # JSON values, typed by the reader
    """The JSON values of `encode_rows` output (dates and decimals come back as strings)."""
    if not encoded:
        return []
    rows: list[list[Any]] = orjson.loads(b"[" + encoded[1:] + b"]")
    return rows


class DayDigest:
    """A running digest of one day's encoded rows."""

    __slots__ = ("_hash",)

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(_VERSION, digest_size=16)

    def update(self, encoded: bytes) -> None:
        self._hash.update(encoded)

    def digest(self) -> bytes:
        return self._hash.digest()


ROW_HASH_BYTES = 8
# Rows are encoded (and digested, spooled, COPYed) this many at a time: bounded memory.
CHUNK_ROWS = 2000
_row_hash = xxhash.xxh3_64_digest  # 8 bytes; six times cheaper than blake2b on short rows
_dumps = orjson.dumps


class RowDigests:
    """A day's digest and every row's own hash, row by row.

    Each row is encoded alone (the concatenation is the bytes `encode_rows` gives, so the day
    digest is the same) and hashed (XXH3, 64 bits: a changed row goes unnoticed only if its
    new encoding collides with its old one): a revised day then sends only the rows whose hash
    is new."""

    __slots__ = ("_day", "_hashes")

    def __init__(self) -> None:
        self._day = DayDigest()
        self._hashes = bytearray()

    def add(self, rows: Sequence[Sequence[object]]) -> bytes:
        """Take rows; their encoding is returned (what `encode_rows` gives)."""
        encoded = [b"," + _dumps(row, default=_default) for row in rows]
        self._hashes += b"".join(map(_row_hash, encoded))
        joined = b"".join(encoded)
        self._day.update(joined)
        return joined

    def digest(self) -> bytes:
        return self._day.digest()

    def hashes(self) -> bytes:
        return bytes(self._hashes)

    @property
    def count(self) -> int:
        return len(self._hashes) // ROW_HASH_BYTES


def split_hashes(hashes: bytes) -> list[bytes]:
    """`RowDigests.hashes()` back into one hash per row, in row order."""
    return [hashes[at : at + ROW_HASH_BYTES] for at in range(0, len(hashes), ROW_HASH_BYTES)]


def day_digest(rows: Sequence[Sequence[object]]) -> bytes:
    """The day digest alone (`RowDigests` gives the same, with every row's hash too)."""
    digest = DayDigest()
    for start in range(0, len(rows), CHUNK_ROWS):
        digest.update(encode_rows(rows[start : start + CHUNK_ROWS]))
    return digest.digest()


def digest_rows(rows: Sequence[Sequence[object]]) -> tuple[bytes, bytes]:
    """The day digest of `rows` and their row hashes."""
    digests = RowDigests()
    digests.add(rows)
    return digests.digest(), digests.hashes()
