"""Request and response bodies of the runs API (they define the OpenAPI schema)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.config import SourceName

RunStatus = Literal["queued", "running", "succeeded", "partial", "failed", "cancelled", "crashed"]
RunTrigger = Literal["api", "schedule", "cli"]


class RunRequest(BaseModel):
    """All fields optional: the default is the last LOOKBACK_DAYS complete UTC days, every
    configured source."""

    model_config = ConfigDict(extra="forbid")

    start_date: date | None = Field(default=None, description="First UTC day (inclusive).")
    end_date: date | None = Field(default=None, description="Last UTC day (inclusive).")
    sources: list[SourceName] | None = Field(default=None, min_length=1, max_length=5)


class SourceProgressOut(BaseModel):
    source: str
    status: Literal["pending", "running", "succeeded", "failed", "cancelled"]
    target_table: str
    days_done: int
    days_total: int
    pages: int
    rows_fetched: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    rows_deleted: int
    rows_skipped: int
    retries: int
    rate_limit_waits: int
    rate_limit_wait_seconds: float
    error: str | None
    upstream_status: int | None
    started_at: datetime | None
    finished_at: datetime | None


class RunOut(BaseModel):
    id: uuid.UUID
    status: RunStatus
    trigger: RunTrigger
    window_start: date
    window_end: date
    sources: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    scheduled_for: datetime | None
    cancel_requested_at: datetime | None
    status_reason: str | None
    worker_id: str | None
    progress: list[SourceProgressOut]

    @classmethod
    def from_row(cls, run: dict[str, Any]) -> RunOut:
        return cls(
            **{key: run[key] for key in cls.model_fields if key in run},
            progress=[
                SourceProgressOut(
                    **{k: s[k] for k in SourceProgressOut.model_fields if k in s},
                    error=s["last_error"],
                )
                for s in run.get("source_progress", [])
            ],
        )


class RunList(BaseModel):
    runs: list[RunOut]
    next: str | None = Field(description="URL of the next (older) page, if any.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
