"""Who is looking at a page: a login cookie, or the API's bearer token; and the CSRF token of
the forms that change something.

The cookie holds the token's *name*, signed with the token's own secret (itsdangerous, timed):
it works on every replica with no secret of its own, and ends when the token is removed or
rotated. It is HttpOnly, SameSite=Strict, Secure behind HTTPS, and scoped to `/ui`. A form's
CSRF token is an HMAC of the cookie under the same secret: a page of another site can neither
read it nor send the cookie (SameSite) — two locks on one door. Bearer callers send no cookie,
so their forms need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.access import NamedToken
from app.api.runtime import runtime_of
from app.vocabulary import ApiScope

COOKIE = "aup_session"
COOKIE_PATH = "/ui"
SESSION_SECONDS = 12 * 3600
_SALT = "ai-usage-pipeline dashboard session"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Viewer:
    """Who a page is for: a token's name and scope; `session` is the cookie (None: a bearer
    caller or open reads), from which the forms' CSRF token is made."""

    name: str
    scope: ApiScope
    session: str | None
    secret: bytes

    def may(self, scope: ApiScope) -> bool:
        return self.scope.includes(scope) and self.name != ANONYMOUS

    @property
    def csrf(self) -> str:
        if self.session is None:
            return ""
        return hmac.new(self.secret, b"csrf:" + self.session.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, presented: str) -> bool:
        """A bearer caller needs none; a cookie's must match (compared in constant time)."""
        return self.session is None or hmac.compare_digest(presented.encode(), self.csrf.encode())


def _serializer(token: NamedToken) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(token.secret.get_secret_value(), salt=_SALT)


def session_for(token: NamedToken) -> str:
    return _serializer(token).dumps(token.name)


def _from_cookie(request: Request, value: str) -> Viewer | None:
    _, name = URLSafeTimedSerializer("-", salt=_SALT).loads_unsafe(value)
    if not isinstance(name, str):
        return None
    tokens = runtime_of(request).tokens
    for token in tokens.tokens():
        if token.name != name:
            continue
        try:
            _serializer(token).loads(value, max_age=SESSION_SECONDS)
        except BadSignature:
            continue
        return Viewer(name, token.scope, value, token.secret.get_secret_value().encode())
    return None


def viewer_of(request: Request) -> Viewer | None:
    """The page's viewer, or None: not logged in (or the session ended)."""
    runtime = runtime_of(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = runtime.tokens.match(header[7:].strip())
        return None if token is None else Viewer(token.name, token.scope, None, b"")
    cookie = request.cookies.get(COOKIE)
    if cookie:
        viewer = _from_cookie(request, cookie)
        if viewer is not None:
            return viewer
    if runtime.settings.api_reads_open:
        return Viewer(ANONYMOUS, ApiScope.READ, None, b"")
    return None


def login(request: Request, presented: str) -> tuple[NamedToken, str] | None:
    """The token `presented` is and a new session for it, or None."""
    token = runtime_of(request).tokens.match(presented)
    return None if token is None else (token, session_for(token))


def secure(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"
