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

# Bump when the encoding changes: old digests then simply stop matching.
_VERSION = b"ai-usage-pipeline/day-digest/1"


# orjson calls this for every value it has no encoding of: a Decimal is its exact string, and
# anything else fails (TypeError) rather than be digested in some ambiguous form. The unbound
# C method saves a Python frame per value on the hot path.
_default = Decimal.__str__


def encode_rows(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Rows as comma-led JSON array elements: chunks concatenate to the same bytes however a
    day's rows were split (pages), and `decode_rows` reads the concatenation back."""
    if not rows:
        return b""
    return b"," + orjson.dumps(rows, default=_default)[1:-1]


def decode_rows(encoded: bytes) -> list[list[Any]]:
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


def digest_rows(rows: Sequence[tuple[Any, ...]]) -> bytes:
    digest = DayDigest()
    digest.update(encode_rows(rows))
    return digest.digest()
