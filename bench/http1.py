"""The little of HTTP/1.1 the bench's own server (`bench.replay`) and client (`bench.load`)
need: a message head's start line and its body length."""

from __future__ import annotations


def parse_head(head: bytes) -> tuple[str, int | None]:
    """The start line of a message head (up to its blank line), and its Content-Length (None:
    not sent)."""
    lines = head.decode("latin-1").split("\r\n")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return lines[0], length
