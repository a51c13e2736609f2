"""A (source, day)'s rows as the day writer consumes them: digested, compared by row hash,
streamed to COPY, each only as far as the write path needs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, Protocol, TypeVar

from app.repositories.digests import CHUNK_ROWS, RowDigests, day_digest, digest_rows, split_hashes

Row = tuple[object, ...]
F = TypeVar("F")  # a fact


class DayRows(Protocol):
    """One (source, day)'s rows in table column order, produced as cheaply as each path
    allows."""

    def digest(self) -> bytes: ...

    def row_hashes(self) -> bytes:
        """Every row's hash (see `RowDigests`), valid when `digest()` is."""
        ...

    def changed_rows(self, stored: set[bytes]) -> Sequence[Sequence[object]] | None:
        """The rows whose hash is not in `stored`, or None if they cannot be told apart
        (duplicate keys to fold): then the whole day is merged."""
        ...

    def for_first_load(self, *appended: object) -> Iterable[Sequence[object]]:
        """Rows with `appended` (the run id, the account) added, consumed lazily by COPY (client
        work overlaps the server's); `digest()`, `row_hashes()` and `count` hold once it is
        exhausted."""
        ...

    def folded_for_first_load(self, *appended: object) -> Iterable[Sequence[object]] | None:
        """The same rows with duplicate keys folded, or None if duplicates are an error."""
        ...

    def rows(self) -> Sequence[Sequence[object]]: ...

    @property
    def count(self) -> int: ...

    @property
    def empty(self) -> bool:
        """No row comes in (known before any is streamed)."""
        ...


class FactRows(Generic[F]):
    """One (source, day)'s facts, already one per key (a duplicate is a bug: Claude rows are
    folded by the caller, spend rows are one per identity by construction), turned into table
    rows by `to_row`."""

    def __init__(self, facts: Sequence[F], to_row: Callable[[F], Row]) -> None:
        self._facts = facts
        self._to_row = to_row
        self._rows: list[Row] | None = None
        self._digest: bytes | None = None
        self._digests: tuple[bytes, bytes] | None = None  # the day's digest, its row hashes

    @property
    def empty(self) -> bool:
        return not self._facts

    @property
    def count(self) -> int:
        return len(self._facts)

    def rows(self) -> list[Row]:
        if self._rows is None:
            self._rows = [self._to_row(fact) for fact in self._facts]
        return self._rows

    def digest(self) -> bytes:
        # An unchanged day needs only this: the rows are hashed one by one only when the
        # day differs (or is written).
        if self._digests is not None:
            return self._digests[0]
        if self._digest is None:
            self._digest = day_digest(self.rows())
        return self._digest

    def row_hashes(self) -> bytes:
        if self._digests is None:
            self._digests = digest_rows(self.rows())
        return self._digests[1]

    def changed_rows(self, stored: set[bytes]) -> list[Row]:
        hashes = split_hashes(self.row_hashes())
        return [
            row for row, row_hash in zip(self.rows(), hashes, strict=True) if row_hash not in stored
        ]

    def for_first_load(self, *appended: object) -> Iterator[Row]:
        digests = RowDigests()
        for start in range(0, len(self._facts), CHUNK_ROWS):
            rows = [self._to_row(fact) for fact in self._facts[start : start + CHUNK_ROWS]]
            digests.add(rows)
            for row in rows:
                yield (*row, *appended)
        self._digests = (digests.digest(), digests.hashes())

    def folded_for_first_load(self, *appended: object) -> None:
        return None
