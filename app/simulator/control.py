"""The simulator's own control plane (`/_sim/…`): faults per endpoint, restatements, health."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.simulator.faults import FaultSpec
from app.simulator.plumbing import simulated

router = APIRouter(prefix="/_sim")


class RestateRequest(BaseModel):
    kind: str  # "cursor" | "claude"
    day: date
    people: int = 3


@router.post("/faults/{endpoint:path}")
async def add_fault(request: Request, endpoint: str, spec: FaultSpec) -> dict[str, Any]:
    faults = simulated(request).faults
    faults.add(endpoint, spec)
    return faults.describe()


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    simulated(request).faults.clear()
    return {}


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    sim = simulated(request)
    return {
        "faults": sim.faults.describe(),
        "hits": sim.faults.hits,
        "requests": sim.counts,
        "rate_limited": sim.rate_limits.limited,
    }


@router.post("/restate")
async def restate(request: Request, body: RestateRequest) -> dict[str, Any]:
    people = simulated(request).truth.restate(body.kind, body.day, body.people)
    return {"kind": body.kind, "day": body.day.isoformat(), "people": sorted(people)}


class DayRequest(BaseModel):
    day: date


@router.post("/inexact-cost-days")
async def inexact_cost_day(request: Request, body: DayRequest) -> dict[str, Any]:
    """From now on the day's usage report matches its cost report only loosely (`flex` for
    `standard`, no `context_window` / `inference_geo`), as the documents allow."""
    days = simulated(request).truth.inexact_cost_days
    days.add(body.day)
    return {"days": sorted(day.isoformat() for day in days)}


class DirectoryChange(BaseModel):
    departed: list[int] = []  # people (by index) who leave: gone from users, keys inactive
    renamed_keys: dict[str, str] = {}  # key id → its new name
    deleted_users: list[int] = []  # people Enterprise Analytics shows as deleted


@router.post("/directory")
async def change_directory(request: Request, body: DirectoryChange) -> dict[str, Any]:
    """People leave, keys are renamed, Enterprise users are deleted — their history stays."""
    truth = simulated(request).truth
    truth.departed.update(body.departed)
    truth.renamed_keys.update(body.renamed_keys)
    truth.deleted_users.update(body.deleted_users)
    truth.views.clear()
    return {
        "departed": sorted(truth.departed),
        "renamed_keys": truth.renamed_keys,
        "deleted_users": sorted(truth.deleted_users),
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
