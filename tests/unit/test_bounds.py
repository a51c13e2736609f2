"""What one upstream may cost: decompressed bytes counted as they arrive, pages waiting on
disk counted against a cap in a directory a dead process leaves to the next one, chains that
go round or never end; through the shared client, each a clear `UpstreamError`."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from app.ingestion import bounds
from app.ingestion.bounds import (
    BadEncoding,
    BodyTooLarge,
    Bounds,
    ChainGuard,
    SpoolBudget,
    SpoolFull,
    bounded_body,
)
from app.ingestion.decoding import FromFile, json_with_decimals
from app.ingestion.errors import MalformedPageError, UpstreamError
from app.ingestion.http import RequestStats, RetryPolicy, UpstreamHttp
from app.ingestion.rate_limit import RateLimiter
from app.scratch import scratch_dir, sweep_leftovers

BASE = "https://api.test"


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(data: bytes, encoding: str, limit: int) -> bytes:
    out: list[bytes] = []
    await bounded_body(_chunks(data), encoding, limit, out.append)
    return b"".join(out)


async def test_bodies_are_decoded_as_sent_and_stopped_past_the_limit() -> None:
    body = b'{"data": [' + b'{"a": 1},' * 10_000 + b'{"a": 2}]}'
    assert await _read(body, "", len(body)) == body
    assert await _read(gzip.compress(body), "gzip", len(body)) == body
    assert await _read(zlib.compress(body), "deflate", len(body)) == body
    with pytest.raises(BodyTooLarge):
        await _read(body, "identity", len(body) - 1)


async def test_a_gzip_bomb_is_stopped_a_megabyte_past_the_limit_not_at_its_size() -> None:
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)  # 256 MiB in ~250 KiB
    handed: list[int] = []

    with pytest.raises(BodyTooLarge):
        await bounded_body(_chunks(bomb), "gzip", 4 << 20, lambda data: handed.append(len(data)))
    assert sum(handed) <= (4 << 20) and max(handed) <= 1 << 20


@pytest.mark.parametrize(
    ("data", "encoding"),
    [(b"\x1f\x8b\x08\x00garbage", "gzip"), (gzip.compress(b"[1, 2, 3]")[:-8], "gzip"),
     (b"[]", "br")],
)  # fmt: skip
async def test_a_body_that_does_not_decode_is_bad_encoding(data: bytes, encoding: str) -> None:
    with pytest.raises(BadEncoding):
        await _read(data, encoding, 1 << 20)


def test_a_chain_that_comes_back_or_never_ends_fails() -> None:
    guard = ChainGuard("anthropic", "cost_report", "2026-08", max_pages=3)
    for cursor in ("A", "B"):
        guard.page()
        guard.advance(cursor)
    guard.page()
    with pytest.raises(UpstreamError, match="page 3 points back to a page already read"):
        guard.advance("A")
    endless = ChainGuard("cursor", "teams/spend", "", max_pages=2)
    endless.page()
    endless.page()
    with pytest.raises(UpstreamError, match=r"still more pages after 2 \(UPSTREAM_MAX_PAGES"):
        endless.page()
    with pytest.raises(MalformedPageError, match="says there is more but gives no last_id"):
        ChainGuard("anthropic", "users", "list", 5).advance(None, "last_id")


def test_spooled_pages_count_against_the_budget_until_they_are_gone(tmp_path: Path) -> None:
    budget = SpoolBudget(max_bytes=3 << 20, parent=tmp_path)
    first = budget.file()
    first.write(b"x" * (2 << 20))  # rolled over to disk, in this process's directory
    assert budget.held == 2 << 20
    assert [p.name.split("-")[2] for p in tmp_path.iterdir()] == [str(os.getpid())]
    second = budget.file()
    with pytest.raises(SpoolFull, match="SPOOL_MAX_BYTES"):
        second.write(b"y" * (2 << 20))
    first.close()
    del first
    assert budget.held == 0
    second.write(b"y" * (2 << 20))
    assert budget.held == 2 << 20


def test_a_killed_process_leaves_its_scratch_to_the_next_one(tmp_path: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path; from app.scratch import scratch_dir;"
        f"d = scratch_dir('aup-spool', Path({str(tmp_path)!r})); (d / 'page').write_bytes(b'x');"
        "os.kill(os.getpid(), 9)"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    [left] = list(tmp_path.iterdir())
    assert (left / "page").exists()  # SIGKILL ran no exit hook
    mine = scratch_dir("aup-spool", tmp_path)
    assert list(tmp_path.iterdir()) == [mine]
    assert sweep_leftovers(tmp_path, "aup-spool") == []  # our own is never swept


@respx.mock
async def test_the_client_names_the_bound_an_upstream_crossed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with httpx.AsyncClient() as client:
        http = UpstreamHttp(
            client, upstream="cursor", base_url=BASE, key_setting="CURSOR_API_KEY",
            limiter=RateLimiter(60_000), concurrency=asyncio.Semaphore(4),
            policy=RetryPolicy(max_attempts=2, base_wait_seconds=0), bounds=Bounds(
                request_deadline_seconds=0.3, max_page_bytes=1 << 16, max_pages=10),
        )  # fmt: skip
        respx.get(f"{BASE}/big").mock(return_value=httpx.Response(200, content=b" " * (1 << 17)))
        with pytest.raises(UpstreamError, match=r"cursor big answered more than 65536 bytes"):
            await http.request_json(
                "GET", "/big", endpoint="big", decode=json_with_decimals, stats=RequestStats()
            )

        async def slow(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(1)
            return httpx.Response(200, json={})

        respx.get(f"{BASE}/slow").mock(side_effect=slow)
        with pytest.raises(
            UpstreamError,
            match=r"failed after 2 attempts: no whole answer"
            r" within 0.3 s \(UPSTREAM_REQUEST_DEADLINE",
        ):
            await http.request_json("GET", "/slow", endpoint="slow", decode=json_with_decimals, stats=RequestStats())  # fmt: skip
        respx.get(f"{BASE}/moved").mock(
            return_value=httpx.Response(301, headers={"location": "https://x.invalid/"})
        )
        with pytest.raises(UpstreamError, match=r"HTTP 301, a redirect to https://x.invalid/"):
            await http.request_json(
                "GET", "/moved", endpoint="moved", decode=json_with_decimals, stats=RequestStats()
            )
        monkeypatch.setattr(bounds.SPOOL, "max_bytes", 1000)
        respx.get(f"{BASE}/spooled").mock(return_value=httpx.Response(200, content=b"1" * 5000))
        with pytest.raises(UpstreamError, match=r"not read: pages waiting on disk passed 1000"):
            await http.request_json("GET", "/spooled", endpoint="spooled", stats=RequestStats(),
                                    decode=FromFile(lambda body: body.read()))  # fmt: skip
