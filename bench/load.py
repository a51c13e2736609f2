"""Fixed-rate HTTP load from its own process: GET /livez and GET /runs/{id}, latencies out.

python -m bench.load URL RUN_ID --rate 200 --seconds 20

Open loop: request n is due at start + n / rate, and its latency is counted from then, so a
slow server shows as latency however the requests queue. The client is a few lines of asyncio
over keep-alive connections, not httpx: at 200 requests a second with hundreds in flight,
httpx's connection pool spent the load process's CPU (its work grows with the requests
waiting), fell behind, and reported seconds of latency while the server answered a second
client in 4 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from urllib.parse import urlsplit

from bench.http1 import parse_head

CONNECTIONS = 64


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> int:
    """One GET on a keep-alive connection; its status (the body is read and dropped). The
    read token comes from AUP_BENCH_TOKEN (reads need one)."""
    token = os.environ.get("AUP_BENCH_TOKEN", "")
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    await writer.drain()
    start, length = parse_head(await reader.readuntil(b"\r\n\r\n"))
    status = int(start.split(" ", 2)[1])
    if length is None:
        raise ValueError("a response without content-length")
    await reader.readexactly(length)
    return status


async def drive(url: str, run_id: str, rate: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    paths = ["/livez", f"/runs/{run_id}"]
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    authority = f"{host}:{port}"
    due: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()

    def failed(reason: str) -> None:
        errors[reason] = errors.get(reason, 0) + 1

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await due.get()) is not None:
                scheduled, path = item
                try:
                    status = await _get(reader, writer, authority, path)
                    if status != 200:
                        failed(str(status))
                except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                    failed(type(exc).__name__)
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                latencies.append(time.perf_counter() - scheduled)
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    begin = time.perf_counter()
    for n in range(int(rate * seconds)):
        scheduled = begin + n / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        due.put_nowait((scheduled, paths[n % 2]))
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - begin
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("run_id")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    result = asyncio.run(drive(args.url, args.run_id, args.rate, args.seconds))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
