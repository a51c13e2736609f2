"""GET /sources: what this service can ingest, from the source registry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.api.auth import READ
from app.api.problems import PROTECTED
from app.api.runtime import runtime_of
from app.orchestration.sources.registry import REGISTRY

router = APIRouter(tags=["runs"], dependencies=[READ], responses=PROTECTED)


class SourceOut(BaseModel):
    name: str
    table: str = Field(description="The fact table the source writes.")
    configured: bool = Field(description="Its credentials are set on this service.")
    requires: list[str] = Field(description="Sources a run of this one brings along.")
    revision_horizon_days: int = Field(
        description="How long after a day the upstream may still revise it."
    )


class SourceList(BaseModel):
    sources: list[SourceOut]


@router.get("/sources", response_model=SourceList, summary="Sources a run can name")
async def list_sources(request: Request) -> SourceList:
    configured = set(REGISTRY.configured(runtime_of(request).settings))
    return SourceList(
        sources=[
            SourceOut(
                name=source.name,
                table=source.table,
                configured=source.name in configured,
                requires=list(source.requires),
                revision_horizon_days=source.revision_horizon.days,
            )
            for source in REGISTRY
        ]
    )
