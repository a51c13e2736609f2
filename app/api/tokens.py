"""The API's tokens, from the settings and from API_TOKENS_FILE (read again when it changes)."""

from __future__ import annotations

import hmac
import os
import threading
import time
from pathlib import Path

from app import redaction
from app.access import NamedToken, TokenListError, parse_tokens
from app.config import Settings
from app.logs import get_logger

log = get_logger(__name__)
RELOAD_CHECK_SECONDS = 1.0


class TokenStore:
    """The tokens the API accepts: those of the settings, and those of API_TOKENS_FILE."""

    def __init__(self, settings: Settings) -> None:
        self._fixed = settings.listed_tokens()
        self._file: Path | None = settings.api_tokens_file
        self._from_file: list[NamedToken] = []
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._error: str | None = None
        self._reload()

    def tokens(self) -> list[NamedToken]:
        if self._file is not None and time.monotonic() - self._checked >= RELOAD_CHECK_SECONDS:
            self._reload()
        return self._fixed + self._from_file

    def _reload(self) -> None:
        if self._file is None:
            return
        with self._lock:
            self._checked = time.monotonic()
            try:
                stat = os.stat(self._file)
                stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
                if stamp == self._stamp:
                    return
                tokens = parse_tokens(self._file.read_text(encoding="utf-8"))
            except OSError as exc:  # mid-swap, say: tried again in a second
                self._failed(f"cannot read it ({exc.strerror})")
                return
            except TokenListError as exc:
                self._failed(str(exc))
                self._stamp = stamp  # not parsed again until it changes
                return
            self._error = None
            redaction.remember(token.secret.get_secret_value() for token in tokens)
            self._from_file, self._stamp = tokens, stamp
            log.info("API tokens read", file=str(self._file), names=[t.name for t in tokens])

    def _failed(self, error: str) -> None:
        if error != self._error:  # once per problem, not once a second
            self._error = error
            log.error("API_TOKENS_FILE not read; the tokens read before it stay",
                      file=str(self._file), error=error)  # fmt: skip

    def match(self, presented: str) -> NamedToken | None:
        """The token `presented` is, compared in constant time with every one."""
        found = None
        candidate = presented.encode()
        for token in self.tokens():
            if hmac.compare_digest(candidate, token.secret.get_secret_value().encode()):
                found = token
        return found
