"""Templates, number formats and the security headers of every page."""

from __future__ import annotations

import secrets
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from app.web.session import Viewer

TEMPLATES = Environment(
    loader=PackageLoader("app.web"), autoescape=select_autoescape(default=True),
    trim_blocks=True, lstrip_blocks=True,
)  # fmt: skip
CENT = Decimal("0.01")


def usd(value: Decimal | int | None) -> str:
    """Dollars to the cent, for reading (cells also carry the exact value in `data-value`)."""
    if value is None:
        return "—"
    return f"${Decimal(value).quantize(CENT, ROUND_HALF_EVEN):,}"


def number(value: Decimal | int | None) -> str:
    return "—" if value is None else f"{value:,}"


def month_label(value: date) -> str:
    return value.strftime("%B %Y")


TEMPLATES.filters.update(usd=usd, number=number, month_label=month_label)


def policy(nonce: str) -> str:
    """No inline script, no other origin, never framed; the charts' `<style>` carry the nonce."""
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def secure_headers(response: HTMLResponse, nonce: str) -> HTMLResponse:
    response.headers.update(
        {
            "Content-Security-Policy": policy(nonce),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        }
    )
    return response


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def page(
    request: Request,
    viewer: Viewer | None,
    template: str,
    *,
    nonce: str | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    nonce = nonce or new_nonce()
    html = TEMPLATES.get_template(template).render(
        request=request, viewer=viewer, nonce=nonce, path=request.url.path, **context
    )
    return secure_headers(HTMLResponse(html, status_code=status), nonce)
