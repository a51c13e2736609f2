"""One redaction for every secret in every form: property-tested with secrets drawn with odd
characters, echoed the ways upstreams, proxies, exceptions and loggers echo them."""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import httpx
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from app import redaction
from app.config import load_settings
from app.ingestion.responses import MAX_MESSAGE_CHARS, upstream_message
from app.logs import configure_logging

# Secrets as they arrive in the wild: printable, plus what a pasted or echoed value carries.
ODD = st.sampled_from(list("\n\r\t \u00a0\u200b\"'\\%+/=:@&?#é😀\x00\x7f"))
SECRETS = st.lists(
    st.one_of(st.characters(min_codepoint=0x21, max_codepoint=0x7E), ODD), min_size=8, max_size=60
).map("".join)


def _basic(secret: str) -> str:
    return "Basic " + base64.b64encode(f"{secret}:".encode()).decode()


ECHOES: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "repr": repr,
    "bytes repr": lambda s: repr(s.encode()),
    "json": json.dumps,
    "json ascii off": lambda s: json.dumps(s, ensure_ascii=False),
    "url": lambda s: quote(s, safe=""),
    "url plus": lambda s: quote_plus(s, safe=""),
    "url lower": lambda s: quote(s, safe="").lower() if "%" in quote(s, safe="") else s,
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "basic": _basic,
    "header repr": lambda s: repr({"authorization": _basic(s), "x-api-key": s}),
    "exception": lambda s: str(httpx.LocalProtocolError(f"Illegal header value {s.encode()!r}")),
}


def _leaks(secret: str, text: str) -> list[str]:
    """Forms of `secret` still in `text` (compared on what a reader could recover)."""
    echoes = {name: echo(secret) for name, echo in ECHOES.items() if name != "url lower"}
    echoes |= {"raw": secret, "b64 key:": base64.b64encode(f"{secret}:".encode()).decode()}
    return [name for name, form in echoes.items() if len(form) >= 8 and form in text]


@settings(max_examples=300, deadline=None)
@given(secret=SECRETS, echo=st.sampled_from(list(ECHOES)), before=st.text(max_size=40))
def test_no_echo_form_of_a_secret_survives(secret: str, echo: str, before: str) -> None:
    redactor = redaction.Redactor()
    redactor.remember([secret, "another-secret-of-the-process"])
    text = f"{before} upstream said: {ECHOES[echo](secret)} (end)"
    assert _leaks(secret, redactor.redact(text)) == []


@settings(max_examples=200, deadline=None)
@given(secret=SECRETS, cut=st.integers(min_value=5, max_value=400), pad=st.integers(0, 300))
def test_redaction_comes_before_the_cut(secret: str, cut: int, pad: int) -> None:
    """A key straddling the cut must not survive in part: the text is redacted, then cut."""
    redactor = redaction.Redactor()
    redactor.remember([secret])
    shown = redactor.safe_text("x" * pad + secret + "y" * 50, cut)
    assert len(shown) <= cut
    half = secret[: max(8, len(secret) // 2)]
    assert half not in shown or half in "x" * pad


@settings(max_examples=40, deadline=None)  # each example adds to the process's secrets
@given(secret=SECRETS, echo=st.sampled_from(list(ECHOES)))
def test_an_upstream_error_body_is_redacted_before_it_is_cut(secret: str, echo: str) -> None:
    redaction.remember([secret])
    body = json.dumps({"error": {"message": "z" * (MAX_MESSAGE_CHARS - 10) + ECHOES[echo](secret)}})
    assert _leaks(secret, upstream_message(body.encode(), "Unauthorized")) == []
    assert _leaks(secret, upstream_message(body.encode()[:-3], "Unauthorized")) == []


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_every_log_line_is_redacted_and_tracebacks_carry_no_locals(
    log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "crsr_log_secret_+/=%7f_0123456789"
    settings_ = load_settings(_env_file=None, cursor_api_key=key, log_format=log_format)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(settings_)

    def fails(secret_local: str) -> None:
        raise RuntimeError("boom")

    log = structlog.get_logger("test")
    log.warning("echoed", header=_basic(key), value={"nested": [repr(key)]})
    try:
        fails("local-" + key[::-1])
    except RuntimeError:
        log.exception("crashed")
    import logging

    logging.getLogger("aup.test.stdlib").warning("stdlib says %s", quote(key, safe=""))
    written = stream.getvalue()
    assert "echoed" in written and "crashed" in written and "stdlib says" in written
    assert _leaks(key, written) == []
    assert key[::-1] not in written  # the local variable was never rendered
    assert "***" in written
