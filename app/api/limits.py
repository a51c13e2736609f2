"""Bounds on what one request may send: its body, counted as it arrives (a chunked body has no
Content-Length to trust), and its query string. Past either, a 413 or 414 problem."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response

MAX_BODY_BYTES = 64 * 1024
# The longest query any endpoint needs is a few sources and two dates; a long one only
# multiplies work (GET /coverage?source=…&source=… once asked for every row per repeat).
MAX_QUERY_BYTES = 4 * 1024


class RequestLimits:
    """Pure ASGI middleware: nothing is read past the limit, whatever the headers say."""

    def __init__(
        self, app: ASGIApp, max_body: int = MAX_BODY_BYTES, max_query: int = MAX_QUERY_BYTES
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_query = max_query

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.max_query:
            detail = f"query string longer than {self.max_query} bytes"
            await problem_response(414, detail)(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await problem_response(413, self._too_large())(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    # Raised where the route reads its body; the problem handler answers it.
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body} bytes"
