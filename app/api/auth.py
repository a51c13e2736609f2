"""Bearer-token check for write endpoints (constant-time comparison)."""

from __future__ import annotations

import hmac

from fastapi import Request

from app.api.problems import ProblemError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ai-usage-pipeline"'}


async def require_token(request: Request) -> None:
    token = request.app.state.settings.api_token
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if token is None:
        raise ProblemError(
            401, "write endpoints are disabled: API_TOKEN is not set", headers=CHALLENGE
        )
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
        raise ProblemError(401, "missing or invalid bearer token", headers=CHALLENGE)
