"""A benchmark upstream that costs (almost) nothing: recorded pages served again.

`python -m bench.replay DIR --port N` answers each request with the page the simulator served
for the same request bytes when it recorded DIR (`app.cli simulate --record DIR`): a plain
asyncio HTTP/1.1 server, keep-alive, no framework, no JSON — so what a run costs in CPU is the
pipeline's own. A request never recorded gets a 404 naming it.

Today's usage events are read up to the last full hour, so their request changes when an hour
passes between recording and replay: such a request is answered with the page recorded for the
same request an hour or two earlier (today's events so far, as the upstream would answer).

`--rate-limit-scale N` enforces the documented rate limits ×N with the simulator's own budgets
(`app.simulator.rate_limits`) and 429 envelopes, so a run at the rate-limit floor is measured
without the simulator's CPU on the same cores. `GET /_replay/stats` counts the requests per
endpoint and the 429s per budget.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from app.simulator.plumbing import rate_limited_response, recording_key
from app.simulator.rate_limits import BUDGETS, RateLimits
from bench.http1 import parse_head

_ENDPOINTS = sorted({e for _, endpoints in BUDGETS.values() for e in endpoints}, key=len)
_END_DATE = re.compile(rb'"endDate": ?(\d+)')
HOUR_MS = 3_600_000
USAGE_EVENTS = "filtered-usage-events"  # read up to the last full hour: see the module doc


def endpoint_of(path: str) -> str:
    """The simulator's name for the endpoint at `path` (the longest name it ends with)."""
    named = [e for e in _ENDPOINTS if path.endswith("/" + e)]
    return named[-1] if named else path


@dataclass
class _Replay:
    directory: Path
    limits: RateLimits
    requests: dict[str, int] = field(default_factory=dict)

    def answer(self, method: str, target: str, body: bytes) -> tuple[str, dict[str, str], bytes]:
        path, _, query = target.partition("?")
        if path == "/_replay/stats":
            stats = {"requests": self.requests, "rate_limited": self.limits.limited}
            return "200 OK", {}, json.dumps(stats).encode()
        endpoint = endpoint_of(path)
        self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
        retry_after = self.limits.check(endpoint)
        if retry_after is not None:
            limited = rate_limited_response(
                "cursor" if path.startswith("/teams/") else "anthropic", retry_after
            )
            return "429 Too Many Requests", {"retry-after": f"{retry_after:.3f}"}, limited.body
        earlier = _earlier_hours(body) if endpoint == USAGE_EVENTS else []
        for candidate in (body, *earlier):
            page = self.directory / recording_key(method, path, query, candidate)
            if page.exists():
                return "200 OK", {}, page.read_bytes()
        return "404 Not Found", {}, f"not recorded: {method} {target} {body[:200]!r}".encode()


def _earlier_hours(body: bytes, hours: int = 2) -> list[bytes]:
    """The same usage-events request as sent up to `hours` hours earlier: its `endDate` (the
    last full hour) moved back, the bytes otherwise as they are."""
    found = _END_DATE.search(body)
    if found is None:
        return []
    end = int(found.group(1))
    return [
        body[: found.start(1)] + str(end - back * HOUR_MS).encode() + body[found.end(1) :]
        for back in range(1, hours + 1)
    ]


async def _serve(replay: _Replay, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            start, length = parse_head(head)
            method, target, _ = start.split(" ", 2)
            body = await reader.readexactly(length) if length else b""
            status, headers, payload = replay.answer(method, target, body)
            extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
                f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(directory: Path, port: int, scale: float | None) -> None:
    replay = _Replay(directory, RateLimits(scale))
    server = await asyncio.start_server(
        lambda r, w: _serve(replay, r, w), "127.0.0.1", port, limit=2**20
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replay")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate-limit-scale", type=float, default=None)
    args = parser.parse_args()
    asyncio.run(_main(args.directory, args.port, args.rate_limit_scale))
