"""One redaction for every secret the process knows, in every form it can be echoed in.

A key reaches text in more shapes than itself: an exception's `repr` escapes it, a proxy
echoes the `Authorization: Basic base64(key:)` value it rejected, a URL percent-encodes it, a
JSON error body escapes it. `redact` replaces each of those shapes; it runs before any text is
cut short (a key straddling a cut would survive in part) and, as the last log processor, on
every rendered log line.

Secrets are remembered process-wide when settings are built (`app.config.Settings`), so every
process — API, worker, CLI — redacts what it was configured with, whoever formats the text.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"


def _b64_forms(data: bytes) -> set[str]:
    encoded = base64.b64encode(data).decode()
    return {encoded, encoded.rstrip("="), base64.urlsafe_b64encode(data).decode().rstrip("=")}


def echo_forms(secret: str) -> set[str]:
    """Every form of `secret` this service has seen text take: raw, `repr` of the str and of
    its UTF-8 bytes, JSON-escaped, percent-encoded (either case), and base64 of the key, of
    `key:` (HTTP Basic, the Cursor key) and of `:key`."""
    raw = secret.encode()
    forms = {
        secret,
        repr(secret)[1:-1],
        repr(raw)[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for encoded in (quote(secret, safe=""), quote_plus(secret, safe="")):
        forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded)}
    for data in (raw, raw + b":", b":" + raw):
        forms |= _b64_forms(data)
    # Shorter forms than 4 characters would mask ordinary text; no secret is that short.
    return {form for form in forms if len(form) >= 4}


class Redactor:
    """The secrets of one process and one pattern that finds every form of each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def remember(self, secrets: Iterable[str | None]) -> None:
        """Add secrets to what `redact` masks (idempotent; never forgets)."""
        new = {secret for secret in secrets if secret and secret not in self._secrets}
        if not new:
            return
        with self._lock:
            self._secrets.update(new)
            forms = set().union(*(echo_forms(secret) for secret in self._secrets))
            # Longest first: a form that contains another is masked whole.
            ordered = sorted(forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered))

    def redact(self, text: str) -> str:
        """`text` with every known secret, in every form, replaced by `***`."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def safe_text(self, text: str, limit: int | None = None) -> str:
        """`text` redacted, then cut to `limit` characters (in that order: no part survives)."""
        cleaned = self.redact(text)
        if limit is not None and len(cleaned) > limit:
            return cleaned[: limit - 1] + "…"
        return cleaned


_PROCESS = Redactor()  # what every module of this process redacts with
remember = _PROCESS.remember
redact = _PROCESS.redact
safe_text = _PROCESS.safe_text


def redact_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    """structlog processor placed after the renderer: the whole rendered line, tracebacks
    and every bound value included, passes through `redact`."""
    if isinstance(rendered, str):
        return redact(rendered)
    if isinstance(rendered, bytes):
        return redact(rendered.decode("utf-8", "replace")).encode()
    return rendered
