"""Runs API: trigger (POST /runs), poll (GET /runs/{id}), list, cancel."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from app.api import database
from app.api.auth import READ, Caller, require
from app.api.bodies import body_schema, json_body
from app.api.problems import PROTECTED, ProblemError, documented
from app.api.runtime import runtime_of
from app.api.schemas import RunList, RunOut, RunRequest
from app.config import Settings
from app.orchestration import parts, run_request
from app.orchestration.heal import nothing_to_heal, plan_heal
from app.orchestration.run_request import PlannedRun
from app.repositories import run_queue
from app.repositories import runs as runs_repo
from app.repositories.runs import RunRecord
from app.vocabulary import ApiScope, RunStatus, RunTrigger

router = APIRouter(tags=["runs"], responses=PROTECTED)
Trigger = Annotated[Caller, Depends(require(ApiScope.TRIGGER))]

# RFC 8941 sf-string content (optionally quoted): printable ASCII, no control characters.
IDEMPOTENCY_KEY = re.compile(r'^"?([\x20-\x21\x23-\x7e]{1,255})"?$')
# The problem type of a heal with nothing to do (a good state: the CLI's `heal` exits 0 on it).
NOTHING_TO_HEAL = "urn:ai-usage-pipeline:problem:nothing-to-heal"
PROBLEMS = documented(400, 401, 403, 404, 409, 413, 422, 429, 503)


def _fingerprint(body: RunRequest | None) -> str:
    data = (body or RunRequest()).model_dump(mode="json")
    for listed in ("sources", "accounts"):
        if data.get(listed) is not None:
            data[listed] = sorted(data[listed])
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


async def _planned(request: Request, settings: Settings, body: RunRequest | None) -> PlannedRun:
    body = body or RunRequest()
    if body.mode == "heal":
        if body.start_date or body.end_date or body.sources:
            raise ProblemError(422, "mode heal takes no start_date, end_date or sources")
        try:
            plan = await plan_heal(runtime_of(request).pool, settings, accounts=body.accounts)
        except run_request.InvalidRunRequest as exc:  # an unknown account
            raise ProblemError(422, str(exc)) from None
        if plan is None:
            raise ProblemError(422, nothing_to_heal(settings), type_=NOTHING_TO_HEAL)
        return plan
    asked = run_request.RunRequest(body.start_date, body.end_date, body.sources, body.accounts)
    try:
        return run_request.plan_run(settings, asked)
    except run_request.InvalidRunRequest as exc:
        raise ProblemError(422, str(exc)) from None


def _location(run_id: uuid.UUID) -> str:
    return f"/runs/{run_id}"


async def _request_body(request: Request) -> RunRequest | None:
    return await json_body(request, RunRequest)


@router.post(
    "/runs",
    status_code=202,
    response_model=RunOut,
    summary="Queue an ingestion run (scope `trigger`)",
    openapi_extra=body_schema(RunRequest, required=False),
    responses={
        200: {"model": RunOut, "description": "Same Idempotency-Key and body: that run"},
        **PROBLEMS,
    },
)
async def create_run(
    request: Request,
    response: Response,
    caller: Trigger,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> RunOut:
    body = await _request_body(request)
    key = None
    if idempotency_key is not None:
        match = IDEMPOTENCY_KEY.match(idempotency_key)
        if match is None:
            raise ProblemError(400, "Idempotency-Key must be 1–255 printable ASCII characters")
        key = match.group(1)
    run, created = await queue_run(request, caller, body, key)
    response.status_code = 202 if created else 200
    response.headers["Location"] = _location(run.id)
    return RunOut.from_record(run)


async def queue_run(
    request: Request, caller: Caller, body: RunRequest | None, key: str | None = None
) -> tuple[RunRecord, bool]:
    """Plan and queue a run for `caller` (the API's POST /runs and the dashboard's form):
    the run, and whether it is new (else: the one this Idempotency-Key queued)."""
    runtime = runtime_of(request)
    plan = await _planned(request, runtime.settings, body)
    async with database.connection(request) as connection:
        try:
            created = await run_queue.create_requested_run(
                connection,
                run_request.stored_run(plan),
                idempotency_key=key,
                fingerprint=_fingerprint(body),
                key_ttl_hours=runtime.settings.idempotency_key_ttl_hours,
                requested_by=caller.name,
                max_queued=None
                if caller.scope is ApiScope.ADMIN
                else runtime.settings.max_queued_runs_per_token,
            )
        except run_queue.TooManyQueued as exc:
            raise ProblemError(429, str(exc), headers={"Retry-After": "60"}) from None
        except run_queue.IdempotencyMismatch as exc:
            raise ProblemError(
                422,
                "this Idempotency-Key was used with a different request body",
                run_id=str(exc.run_id),
            ) from None
        except run_queue.OverlappingRun as exc:
            raise ProblemError(
                409,
                str(exc),
                run_id=str(exc.run_id),
                headers={"Location": _location(exc.run_id)},
            ) from None
        run = await runs_repo.get_run(connection, created.run_id)
    assert run is not None
    if created.created:
        runtime.worker.wake()
    return run, created.created


@router.get(
    "/runs/{run_id}",
    response_model=RunOut,
    summary="A run: status, window, per-source progress and counts, errors",
    responses=PROBLEMS,
    dependencies=[READ],
)
async def get_run(request: Request, run_id: uuid.UUID) -> RunOut:
    async with database.connection(request) as connection:
        return await one_run(connection, run_id)


async def one_run(connection: asyncpg.Connection, run_id: uuid.UUID) -> RunOut:
    """GET /runs/{id}'s answer (the CLI's local `runs show` too)."""
    run = await runs_repo.get_run(connection, run_id)
    if run is None:
        raise ProblemError(404, f"no run {run_id}")
    return RunOut.from_record(run)


@router.get(
    "/runs",
    response_model=RunList,
    summary="Runs, newest first",
    responses=PROBLEMS,
    dependencies=[READ],
)
async def list_runs(
    request: Request,
    status: RunStatus | None = None,
    trigger: RunTrigger | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[
        uuid.UUID | None, Query(description="Id of the last run of the previous page.")
    ] = None,
) -> RunList:
    async with database.connection(request) as connection:
        return await runs_page(connection, status, trigger, limit, before)


async def runs_page(
    connection: asyncpg.Connection,
    status: RunStatus | None,
    trigger: RunTrigger | None,
    limit: int,
    before: uuid.UUID | None,
) -> RunList:
    """GET /runs's answer (the CLI's local `runs list` too): newest first, `next` for more."""
    if before is not None and not await runs_repo.run_exists(connection, before):
        raise ProblemError(404, f"no run {before}")
    runs = await runs_repo.list_runs(
        connection, status=status, trigger=trigger, limit=limit, before=before
    )
    next_url = None
    if len(runs) == limit:
        params = {"limit": str(limit), "before": str(runs[-1].id)}
        if status:
            params["status"] = status
        if trigger:
            params["trigger"] = trigger
        next_url = "/runs?" + "&".join(f"{k}={v}" for k, v in params.items())
    return RunList(runs=[RunOut.from_record(run) for run in runs], next=next_url)


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    response_model=RunOut,
    summary="Cancel a queued or running run (scope `trigger` for its own runs, `admin` for"
    " anyone's); a running source is interrupted where it is, and its open day rolls back",
    responses=PROBLEMS,
)
async def cancel_run(request: Request, run_id: uuid.UUID, caller: Trigger) -> RunOut:
    async with database.connection(request) as connection:
        run = await cancel_as(connection, run_id, caller.name, caller.scope is ApiScope.ADMIN)
    if run.status is RunStatus.RUNNING:
        runtime_of(request).worker.cancel_local(run_id)
    return run


async def cancel_as(
    connection: asyncpg.Connection, run_id: uuid.UUID, caller: str | None, admin: bool
) -> RunOut:
    """Cancel a run for `caller` (the API's cancel, and the CLI's local `runs cancel` as an
    admin): the run as it stands after the request (still `running` until its parts stop)."""
    asked = await runs_repo.get_run(connection, run_id)
    if asked is None:
        raise ProblemError(404, f"no run {run_id}")
    if asked.requested_by != caller and not admin:
        raise ProblemError(
            403,
            f"run {run_id} was requested by {asked.requested_by!r}; cancelling another's"
            " run needs scope admin",
        )
    outcome = await parts.request_cancel(connection, run_id)
    if outcome is None:
        raise ProblemError(404, f"no run {run_id}")
    status, accepted = outcome
    if not accepted:
        raise ProblemError(409, f"run {run_id} has already finished ({status})", run_id=str(run_id))
    run = await runs_repo.get_run(connection, run_id)
    assert run is not None
    return RunOut.from_record(run)
