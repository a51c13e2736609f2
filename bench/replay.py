"""A benchmark upstream that costs (almost) nothing: recorded pages served again.

`python -m bench.replay DIR --port N` answers each request with the page the simulator served
for the same request bytes when it recorded DIR (`app.cli simulate --record DIR`): a plain
asyncio HTTP/1.1 server, keep-alive, no framework, no JSON — so what a run costs in CPU is the
pipeline's own. A request never recorded gets a 404 naming it.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from app.simulator.plumbing import recording_key


async def _serve(directory: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            path, _, query = target.partition("?")
            page = directory / recording_key(method, path, query, body)
            if page.exists():
                status, payload = "200 OK", page.read_bytes()
            else:
                status, payload = "404 Not Found", f"not recorded: {method} {target}".encode()
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(directory: Path, port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve(directory, r, w), "127.0.0.1", port, limit=2**20
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replay")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(_main(args.directory, args.port))
