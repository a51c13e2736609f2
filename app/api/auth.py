"""Bearer-token check for write endpoints (constant-time comparison)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.problems import ProblemError
from app.api.runtime import runtime_of

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ai-usage-pipeline"'}
# Declares the scheme in OpenAPI; the check itself is ours (problem+json, constant time).
bearer = HTTPBearer(auto_error=False, description="The service's API_TOKEN.")


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    token = runtime_of(request).settings.api_token
    if token is None:
        raise ProblemError(
            401, "write endpoints are disabled: API_TOKEN is not set", headers=CHALLENGE
        )
    presented = credentials.credentials.encode() if credentials is not None else b""
    if credentials is None or not hmac.compare_digest(presented, token.get_secret_value().encode()):
        raise ProblemError(401, "missing or invalid bearer token", headers=CHALLENGE)
