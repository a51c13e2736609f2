"""A local webhook receiver for tests: records every POST, and answers 500 to the first
`failures` of them (a receiver that is down, then back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.support.services import serve_in_thread


@dataclass
class Receiver:
    url: str
    server: uvicorn.Server
    failures: int
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every body, failed or not
    received: list[dict[str, Any]] = field(default_factory=list)  # the ones answered 200

    def stop(self) -> None:
        self.server.should_exit = True


def start_receiver(failures: int = 0) -> Receiver:
    app = FastAPI()
    receiver = Receiver("", None, failures)  # type: ignore[arg-type]

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.json()
        receiver.attempts.append(body)
        if len(receiver.attempts) <= receiver.failures:
            return JSONResponse({"error": "down"}, status_code=500)
        receiver.received.append(body)
        return JSONResponse({"ok": True})

    url, server = serve_in_thread(app)
    receiver.url, receiver.server = f"{url}/hook", server
    return receiver
