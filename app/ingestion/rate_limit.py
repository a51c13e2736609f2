"""Client-side rate limits: never more requests in a window than the upstream allows."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class RateLimiter:
    """At most `per_minute` requests in any minute (a sliding window of send times).

    The upstreams count requests per minute — Cursor per calendar minute, Anthropic with a
    bucket refilled continuously — and a window that never holds more than the limit is
    within every one of those readings. A leaky bucket sized to a minute is not (it lets a
    minute's budget go at once and then drains a second one into the same minute); one
    paced request every 60/N seconds is, but it cannot make up a slot it missed while the
    event loop was busy. This can: a late request is sent as soon as the window allows.
    """

    def __init__(self, per_minute: float, window_seconds: float = 60.0) -> None:
        # `window_seconds` below 60 compresses time (the benchmark's scaled limits): the same
        # number of requests per window, a shorter window. A fractional limit widens it.
        allowed = per_minute * window_seconds / 60
        self._limit = max(1, int(allowed))
        self._window = window_seconds * self._limit / allowed
        self._sent: deque[float] = deque()
        self._turn = asyncio.Lock()  # first come, first served

    async def __aenter__(self) -> None:
        async with self._turn:
            while True:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self._window:
                    self._sent.popleft()
                if len(self._sent) < self._limit:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self._sent[0] + self._window - now)

    async def __aexit__(self, *exc_info: object) -> None:
        return None
