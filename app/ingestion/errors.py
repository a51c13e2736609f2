"""How an upstream request fails for good. Every message is safe to store and show: it names
the upstream, the endpoint and what went wrong, and has passed through `app.redaction`."""

from __future__ import annotations


class UpstreamError(Exception):
    """A request failed for good. The message is safe to store and show (no secrets)."""

    def __init__(self, message: str, *, upstream: str, endpoint: str, status: int | None = None):
        super().__init__(message)
        self.upstream = upstream
        self.endpoint = endpoint
        self.status = status


class InvalidCursorError(UpstreamError):
    """The upstream rejected a page cursor (400 on a follow-up page)."""


class MalformedPageError(UpstreamError):
    """A page did not match the documented shape."""


class InvalidBody(Exception):
    """A response body that is not JSON at all — cut short or garbled in transit: retried."""

    what = "a body that is not valid JSON"


class NestedTooDeeply(InvalidBody):
    """JSON nested past what a decoder follows (a hostile or broken body): retried, then
    reported as such rather than as a crash."""

    what = "JSON nested too deeply"
