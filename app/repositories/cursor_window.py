"""Cursor windows, spooled to disk until complete, then written day by day.

Cursor windows come in pages of users across many days, so a day is complete only at the end
of a window: `CursorWindow` spools the pages to local files by day (memory stays flat, no
database connection is held while fetching) and writes day by day through the shared
replace-a-day path of `app.repositories.facts`.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any

import asyncpg

from app.repositories.day_rows import Row
from app.repositories.day_writer import WriteCounts, replace_day, writing
from app.repositories.digests import (
    CHUNK_ROWS,
    RowDigests,
    decode_rows,
    digest_rows,
    split_hashes,
)
from app.repositories.facts import CURSOR_FACTS, cursor_row
from app.upstreams.cursor.facts import (
    CURSOR_COLUMNS,
    CursorFact,
    CursorLabel,
    fold_cursor_duplicates,
)

_DATE_AT = CURSOR_COLUMNS.index("usage_date")
_EMAIL_AT = CURSOR_COLUMNS.index("email")
_CONFIDENCE_AT = CURSOR_COLUMNS.index("attribution_confidence")


def _landed_chunks(
    day: date, spool: Path | None, *appended: object
) -> Iterator[list[list[Any]]]:  # values as the spool's JSON gives them back
    """A day's spooled rows back in column order and types (`appended` values added at the
    end of each row), one chunk at a time."""
    if spool is None:
        return
    confidences: dict[str, Decimal] = {}
    with spool.open("rb") as lines:
        for line in lines:
            rows = decode_rows(line.rstrip(b"\n"))
            for values in rows:
                values[_DATE_AT] = day
                text = values[_CONFIDENCE_AT]
                confidence = confidences.get(text)
                if confidence is None:
                    confidence = confidences[text] = Decimal(text)
                values[_CONFIDENCE_AT] = confidence
                values += appended
            yield rows


class _CursorDayRows:
    """Spooled rows of one day. A first load streams them as landed (duplicates are rare and
    make COPY fail on the primary key); every other path folds them first."""

    def __init__(self, day: date, digests: RowDigests, spool: Path | None) -> None:
        self._day = day
        self._digests = digests
        self._spool = spool
        self._rows: list[list[object]] | None = None
        self._folded_hashes: bytes | None = None  # of the folded rows, if folding changed any

    def digest(self) -> bytes:
        return self._digests.digest()

    def row_hashes(self) -> bytes:
        return self._digests.hashes() if self._folded_hashes is None else self._folded_hashes

    def rows(self) -> list[list[object]]:
        if self._rows is None:
            landed = [row for chunk in _landed_chunks(self._day, self._spool) for row in chunk]
            folded = fold_cursor_duplicates(CursorFact(*values) for values in landed)
            self._rows = [list(cursor_row(fact)) for fact in folded]
            if len(self._rows) != len(landed):  # duplicates were folded: hash what is written
                self._folded_hashes = digest_rows(self._rows)[1]
        return self._rows

    def changed_rows(self, stored: set[bytes]) -> list[list[object]] | None:
        hashes = iter(split_hashes(self._digests.hashes()))
        emails: set[str] = set()
        changed: list[list[object]] = []
        for chunk in _landed_chunks(self._day, self._spool):
            for values, row_hash in zip(chunk, hashes, strict=False):
                if values[_EMAIL_AT] in emails:
                    return None  # a duplicate to fold: the whole day is merged
                emails.add(values[_EMAIL_AT])
                if row_hash not in stored:
                    changed.append(values)
        return changed

    @property
    def count(self) -> int:
        """Rows as landed, or as folded once folded."""
        return self._digests.count if self._rows is None else len(self._rows)

    @property
    def empty(self) -> bool:
        return self._spool is None

    def for_first_load(self, *appended: object) -> Iterator[list[object]]:
        return chain.from_iterable(_landed_chunks(self._day, self._spool, *appended))

    def folded_for_first_load(self, *appended: object) -> list[list[object]]:
        return [[*values, *appended] for values in self.rows()]


class CursorWindow:
    """Pages of one Cursor window, spooled to local files by day until the window is complete.

    Each day's rows are kept encoded (the same bytes its digest is taken over), so a day whose
    digest matches what is stored is never read back.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="aup-cursor-", dir=directory))
        self._digests: dict[date, RowDigests] = {}

    def __enter__(self) -> CursorWindow:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)
        self._digests.clear()

    def _path(self, day: date) -> Path:
        return self._directory / f"{day.isoformat()}.json"

    def add(self, facts: Sequence[CursorFact]) -> None:
        by_day: dict[date, list[Row]] = defaultdict(list)
        for row in map(cursor_row, facts):
            by_day[row[_DATE_AT]].append(row)
        for day, rows in by_day.items():
            digests = self._digests.setdefault(day, RowDigests())
            with self._path(day).open("ab") as spool:
                # One line per chunk: read back (and COPYed) chunk by chunk.
                for start in range(0, len(rows), CHUNK_ROWS):
                    chunk = rows[start : start + CHUNK_ROWS]
                    spool.write(digests.add(chunk) + b"\n")

    async def write_day(
        self,
        connection: asyncpg.Connection,
        account: str,
        day: date,
        run_id: uuid.UUID | None,
        keep_if_emptied: bool = False,
    ) -> WriteCounts:
        """Replace one day of the fact table with the spooled rows, in one transaction; a day
        with no rows deletes what the table holds for it, unless `keep_if_emptied`."""
        digests = self._digests.get(day, RowDigests())
        incoming = _CursorDayRows(day, digests, self._path(day) if day in self._digests else None)
        async with writing(connection):
            return await replace_day(
                connection,
                CURSOR_FACTS,
                account,
                day,
                CursorLabel.DAILY_USAGE,
                incoming,
                run_id,
                keep_if_emptied,
            )

    def has_rows(self, day: date) -> bool:
        return day in self._digests

    def clear(self) -> None:
        for day in self._digests:
            self._path(day).unlink(missing_ok=True)
        self._digests.clear()
