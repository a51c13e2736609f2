"""Who is calling, and may they: named bearer tokens with scopes (`app.access`).

Every route but the probes depends on `require(scope)`: no token or an unknown one is a 401
(with a `WWW-Authenticate` challenge), a token without the scope a 403, both problem+json.
Tokens are compared in constant time, each one, whichever matches. `API_TOKENS_FILE` is read
again when it changes (checked at most once a second), so a token is rotated by adding the new
one, moving clients over and removing the old one, with no restart; a file that turns invalid
is logged and the tokens read before it are kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.problems import ProblemError
from app.api.runtime import runtime_of
from app.logs import get_logger
from app.vocabulary import ApiScope

log = get_logger(__name__)

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ai-usage-pipeline"'}
# Declares the scheme in OpenAPI; the check itself is ours (problem+json, constant time).
bearer = HTTPBearer(auto_error=False, description="A token from API_TOKEN or API_TOKENS.")
ANONYMOUS = "anonymous"  # the caller of a read while API_READS_OPEN is set


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: a token's name and scope (or anonymous, for open reads)."""

    name: str
    scope: ApiScope


def require(scope: ApiScope) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller, if their token has `scope` (or reads are open)."""

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        runtime = runtime_of(request)
        if credentials is None:
            if scope is ApiScope.READ and runtime.settings.api_reads_open:
                return Caller(ANONYMOUS, ApiScope.READ)
            raise ProblemError(401, "a bearer token is required", headers=CHALLENGE)
        token = runtime.tokens.match(credentials.credentials)
        if token is None:
            raise ProblemError(401, "invalid bearer token", headers=CHALLENGE)
        if not token.allows(scope):
            raise ProblemError(
                403, f"token {token.name!r} has scope {token.scope}; this needs {scope}"
            )
        return Caller(token.name, token.scope)

    return caller


READ = Depends(require(ApiScope.READ))
