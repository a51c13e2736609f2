"""A large page's rows cut into parts at row boundaries, read a megabyte at a time: the rows
taken are exactly the rows of the page, however it is laid out."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from app.ingestion import streamed
from app.ingestion.errors import MalformedPageError
from app.ingestion.streamed import StreamedPage, streamed_page
from app.upstreams.cursor.models import CursorDailyRow, CursorDailyUsageEnvelope
from tests.support.pages import cursor_row


def _taken(body: bytes) -> tuple[Iterator[list[CursorDailyRow]], Any]:
    decoder = streamed_page(
        CursorDailyUsageEnvelope, "data", CursorDailyRow, upstream="cursor", endpoint="e",
        where="w",
    )  # fmt: skip
    with tempfile.SpooledTemporaryFile() as file:
        file.write(body)
        page: StreamedPage[CursorDailyRow] = decoder.read(file)
        assert file.closed  # the body is done with once cut
    return page.parts(), page.envelope.pagination


def _rows(count: int) -> list[dict[str, Any]]:
    return [{**cursor_row(f"u{n}@x.dev", "2026-01-01"), "userId": n} for n in range(count)]


@pytest.fixture(autouse=True)
def _small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamed, "ITEMS_PER_PART", 7)
    monkeypatch.setattr(streamed, "_READ_BYTES", 1000)  # rows straddle every read


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("count", [0, 1, 6, 7, 8, 14, 30])
def test_rows_are_cut_into_parts_of_the_set_size_and_none_is_lost(
    indent: int | None, count: int
) -> None:
    page = {"pagination": {"hasNextPage": True, "totalUsers": count}, "data": _rows(count)}
    taken, pagination_block = _taken(json.dumps(page, indent=indent).encode())
    parts = list(taken)
    assert [row.userId for part in parts for row in part] == list(range(count))
    assert [len(part) for part in parts] == [7] * (count // 7) + ([count % 7] if count % 7 else [])
    assert pagination_block.totalUsers == count and pagination_block.hasNextPage


def test_row_boundaries_inside_strings_and_nested_values_fall_back_to_the_whole_page() -> None:
    rows = _rows(20)
    rows[3]["clientVersion"] = 'a},{"email":"x"}],"data":[{'  # boundaries inside a string
    rows[9]["extra"] = [{"a": 1}, {"b": [{"c": 2}]}]  # and inside a nested value
    rows[19]["extra"] = {"z": [{"y": 1}]}  # the last row ends in `}]}` too
    parts, _ = _taken(json.dumps({"data": rows, "pagination": {"hasNextPage": False}}).encode())
    taken = [row for part in parts for row in part]
    assert [row.userId for row in taken] == list(range(20))
    assert taken[3].clientVersion == 'a},{"email":"x"}],"data":[{'


def test_a_bad_row_is_a_malformed_page_when_its_part_is_taken() -> None:
    rows = _rows(10)
    rows[8]["totalApplies"] = "many"
    parts, _ = _taken(json.dumps({"data": rows}).encode())
    assert len(next(parts)) == 7  # the first part is whole
    # Named where it is in the page, not in its part.
    with pytest.raises(MalformedPageError, match=r"at `\$\.data\[8\]\.totalApplies`"):
        next(parts)


def test_rows_far_apart_are_still_all_taken() -> None:
    """Whitespace wider than a read's overlap between two rows: a boundary may be missed, and
    the page is then decoded whole; nothing is lost or repeated either way."""
    rows = [json.dumps(row) for row in _rows(30)]
    body = ('{"data": [' + (" " * 300 + ",\n" + " " * 300).join(rows) + "]}").encode()
    parts, _ = _taken(body)
    assert [row.userId for part in parts for row in part] == list(range(30))


@pytest.mark.parametrize("nested", [[], [1]])
def test_the_items_key_nested_before_the_rows_is_not_taken_for_them(nested: list[int]) -> None:
    """The first `"data": [` in the body may belong to an object before the page's own rows;
    cutting from there would lose them. Every row is still taken, once."""
    body = {"meta": {"data": nested}, "data": _rows(10), "pagination": {"hasNextPage": False}}
    parts, _ = _taken(json.dumps(body).encode())
    assert [row.userId for part in parts for row in part] == list(range(10))
