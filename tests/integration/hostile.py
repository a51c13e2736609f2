"""A hostile or broken upstream on loopback: it answers any Cursor or Anthropic path the way
its `mode` says, to prove that each misbehaviour ends in a clear, bounded failure.

Modes: `trickle` (a valid page, one byte every 50 ms), `cycle` (pages that point back to
pages already read), `endless` (always one more page), `gzip_bomb` (64 MiB of zeros in 64 KiB
of gzip), `bad_gzip`, `redirect`, `echo_auth` (a 401 quoting the credentials it was sent),
`nested` (JSON nested 100,000 deep), `huge_error` (a 500 with 20 MiB of text)."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.simulator.model import GroundTruth

MODES = (
    "trickle",
    "cycle",
    "endless",
    "gzip_bomb",
    "bad_gzip",
    "redirect",
    "echo_auth",
    "nested",
    "huge_error",
)
_BOMB = gzip.compress(b"\0" * (64 << 20), compresslevel=9)


@dataclass
class Hostile:
    url: str
    server: uvicorn.Server
    mode: str = "trickle"
    requests: int = 0
    seen_credentials: list[str] = field(default_factory=list)


def _cursor_page(truth: GroundTruth, page: int, mode: str) -> dict[str, Any]:
    person = truth.people[0]
    row = truth.cursor_row(person, date(2026, 8, 1))
    if mode == "endless":  # somebody new on every page
        row = {**row, "email": f"new{page}@hostile.test", "userId": 10_000 + page}
    return {"data": [row], "pagination": {"hasNextPage": True, "page": page, "pageSize": 1}}


def _anthropic_page(page: int, mode: str, cursor: str | None) -> dict[str, Any]:
    cycled = "B" if cursor == "A" else "A"  # A, B, A, B…
    following = cycled if mode == "cycle" else f"cursor-{page + 1}"
    return {"data": [], "has_more": True, "next_page": following, "last_id": following}


async def _trickle(body: bytes) -> AsyncIterator[bytes]:
    for byte in body:
        yield bytes([byte])
        await asyncio.sleep(0.05)


def _app(state: Hostile, truth: GroundTruth) -> Starlette:
    counter = itertools.count(1)

    async def anything(request: Request) -> Response:
        state.requests += 1
        page = next(counter)
        credentials = request.headers.get("authorization") or request.headers.get("x-api-key")
        state.seen_credentials.append(credentials or "")
        is_cursor = request.method == "POST" or "teams" in request.url.path
        if is_cursor:
            body: dict[str, Any] = _cursor_page(truth, page, state.mode)
        else:
            body = _anthropic_page(page, state.mode, request.query_params.get("page"))
        payload = json.dumps(body).encode()
        mode = state.mode
        if mode == "trickle":
            return StreamingResponse(_trickle(payload), media_type="application/json")
        if mode == "gzip_bomb":
            headers = {"content-encoding": "gzip"}
            return Response(_BOMB, media_type="application/json", headers=headers)
        if mode == "bad_gzip":
            headers = {"content-encoding": "gzip"}
            return Response(b"\x1f\x8b\x08\x00garbage", media_type="application/json",
                            headers=headers)  # fmt: skip
        if mode == "redirect":
            return Response(status_code=302, headers={"location": "https://elsewhere.invalid/x"})
        if mode == "echo_auth":
            message = f"credentials {credentials!r} rejected (raw: {credentials})"
            error = {"error": "Unauthorized", "message": message}
            if not is_cursor:
                error = {"type": "error", "error": {"type": "authentication_error",
                                                    "message": message}}  # fmt: skip
            return JSONResponse(error, status_code=401)
        if mode == "nested":
            depth = 100_000  # inside the page's rows, where a decoder must go down into it
            nested = b"[" * depth + b"]" * depth
            page_body = b'{"data": [' + nested + b'], "has_more": false}'
            return Response(page_body, media_type="application/json")
        if mode == "huge_error":
            return Response(b"x" * (20 << 20), status_code=500, media_type="text/plain")
        return JSONResponse(body)  # cycle, endless

    methods = ["GET", "POST"]
    return Starlette(routes=[Route("/{path:path}", anything, methods=methods)])


def start_hostile(truth: GroundTruth) -> Hostile:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = Hostile(f"http://127.0.0.1:{port}", None)  # type: ignore[arg-type]
    server = uvicorn.Server(
        uvicorn.Config(
            _app(state, truth), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    state.server = server
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "hostile upstream did not start"
        time.sleep(0.02)
    return state


def hostile_server(truth: GroundTruth) -> Iterator[Hostile]:
    state = start_hostile(truth)
    yield state
    state.server.should_exit = True
