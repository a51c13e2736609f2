"""The OpenAPI document and Swagger UI, behind the `read` scope like every other route, with
Swagger UI's files served from the `fastapi-offline` package: no CDN, nothing fetched at run
time, so the page works in a cluster without egress to the internet."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from app.api.auth import READ
from app.api.problems import ProblemError

router = APIRouter(tags=["operations"], dependencies=[READ], include_in_schema=False)
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
_STATIC = files("fastapi_offline") / "static"


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    app: FastAPI = request.app
    document: dict[str, Any] = app.openapi()
    return JSONResponse(document)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="ai-usage-pipeline",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon.png",
    )


@router.get("/docs/assets/{name}")
async def swagger_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise ProblemError(404, f"no asset {name}")
    return FileResponse(str(_STATIC / name), media_type=media_type)
