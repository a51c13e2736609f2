"""The dashboard's forms (POST): log in and out, trigger a run, heal; and its two static files.

A form from a session must carry the session's CSRF token; a bearer caller's needs none (a
browser never sends a bearer token on its own). Bad input comes back on the page it was sent
from, with the API's own message; nothing is queued.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from app.api.auth import Caller
from app.api.problems import ProblemError
from app.api.runs import queue_run
from app.api.schemas import RunRequest
from app.vocabulary import ApiScope
from app.web.pages import runs_listing
from app.web.render import page
from app.web.session import (
    COOKIE,
    COOKIE_PATH,
    SESSION_SECONDS,
    Viewer,
    login,
    secure,
    viewer_of,
)  # fmt: skip

router = APIRouter(include_in_schema=False)
STATIC = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
MAX_FORM_BYTES = 8192
STALE_FORM = "this form (its CSRF token does not match your session; reload the page)"


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each). The standard library reads it:
    these forms are a few short fields, never files (python-multipart's case)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ProblemError(413, f"a form is at most {MAX_FORM_BYTES} bytes")
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=50)
    return {name: values[0] for name, values in fields.items()}


def _safe_next(target: str) -> str:
    """Only a path of this dashboard (never another site: no open redirect)."""
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


@router.get("/ui/login")
async def login_form(request: Request, next: str = "/ui/") -> Response:
    return page(request, None, "login.html", next=_safe_next(next), error=None)


@router.post("/ui/login")
async def login_submit(request: Request) -> Response:
    form = await _form(request)
    target = _safe_next(form.get("next", "/ui/"))
    found = login(request, form.get("token", "").strip())
    if found is None:
        return page(request, None, "login.html", status=401, next=target,
                    error="That token is not one this service accepts.")  # fmt: skip
    _, session = found
    response = RedirectResponse(target, 303)
    response.set_cookie(
        COOKIE, session, max_age=SESSION_SECONDS, path=COOKIE_PATH, httponly=True,
        samesite="strict", secure=secure(request),
    )  # fmt: skip
    return response


async def _checked(request: Request, scope: ApiScope) -> tuple[Viewer, dict[str, str]] | Response:
    viewer = viewer_of(request)
    if viewer is None:
        return RedirectResponse("/ui/login", 303)
    form = await _form(request)
    if not viewer.csrf_ok(form.get("csrf", "")):
        return page(request, viewer, "missing.html", status=403, what=STALE_FORM)
    if not viewer.may(scope):
        return page(request, viewer, "missing.html", status=403,
                    what=f"this action (it needs a token with scope {scope})")  # fmt: skip
    return viewer, form


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    viewer = viewer_of(request)
    form = await _form(request)
    if viewer is not None and not viewer.csrf_ok(form.get("csrf", "")):
        return page(request, viewer, "missing.html", status=403, what=STALE_FORM)
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


async def _queue(request: Request, viewer: Viewer, body: RunRequest) -> Response:
    try:
        run, _ = await queue_run(request, Caller(viewer.name, viewer.scope), body)
    except ProblemError as exc:
        return await runs_listing(request, viewer, exc.detail, exc.status)
    return RedirectResponse(f"/ui/runs/{run.id}", 303)


def _window(form: dict[str, str]) -> RunRequest:
    return RunRequest.model_validate(
        {
            "start_date": form.get("start_date") or None,
            "end_date": form.get("end_date") or None,
            "sources": [form["source"]] if form.get("source") else None,
        }
    )


async def _queue_from(
    request: Request, body_of: Callable[[dict[str, str]], RunRequest]
) -> Response:
    """A run form: checked (session's CSRF token, scope `trigger`), then queued as the API
    would, or the runs page again saying why not."""
    checked = await _checked(request, ApiScope.TRIGGER)
    if isinstance(checked, Response):
        return checked
    viewer, form = checked
    try:
        body = body_of(form)
    except ValidationError as exc:
        message = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return await runs_listing(request, viewer, message, 422)
    return await _queue(request, viewer, body)


@router.post("/ui/runs")
async def trigger_run(request: Request) -> Response:
    return await _queue_from(request, _window)


@router.post("/ui/heal")
async def heal(request: Request) -> Response:
    return await _queue_from(request, lambda _: RunRequest(mode="heal"))


@router.get("/ui/static/{name}")
async def static(name: Annotated[str, Path(pattern=r"^[a-z]+\.(css|js|svg)$")]) -> Response:
    if name not in STATIC:
        raise ProblemError(404, f"no static file {name}")
    content = resources.files("app.web").joinpath("static", name).read_bytes()
    return Response(content, media_type=STATIC[name],
                    headers={"Cache-Control": "public, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})  # fmt: skip
