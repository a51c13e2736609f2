"""Request bodies parsed after authentication: an unauthenticated caller learns nothing about
what a body should hold, and a malformed one is a 422 naming the field, as every other bad
input is."""

from __future__ import annotations

import json
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from app.api.problems import ProblemError

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M | None:
    """The body as `model`; None when there is none."""
    raw = await request.body()
    if not raw:  # no body (whitespace alone is not JSON: a 422)
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(422, f"malformed JSON body: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()]
        detail = "; ".join(
            ".".join(str(part) for part in error["loc"]) + f": {error['msg']}" for error in errors
        )
        raise ProblemError(422, detail, errors=errors) from None


def body_schema(model: type[BaseModel], *, required: bool) -> dict[str, object]:
    """The OpenAPI `requestBody` of a route that parses its body itself."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
