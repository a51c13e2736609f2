"""Request and response bodies of the runs API (they define the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from app.orchestration.sources.registry import REGISTRY
from app.repositories.database import storable_day
from app.repositories.runs import RunRecord, SourceProgress
from app.vocabulary import SourceStatus


def _iso_date(value: object) -> object:
    """A day is `YYYY-MM-DD`: not a number read as a Unix timestamp, as lax parsing would."""
    if isinstance(value, date):
        return storable_day(value)
    if not isinstance(value, str):
        raise ValueError("a date is a YYYY-MM-DD string")
    return storable_day(date.fromisoformat(value))


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _known_source(name: str) -> str:
    """Each name is checked where it stands (`sources.N`); the run-request rules check again."""
    if name not in REGISTRY:
        raise ValueError(f"unknown source {name!r} (known: {', '.join(REGISTRY.names())})")
    return name


SourceName = Annotated[str, AfterValidator(_known_source)]


class RunRequest(BaseModel):
    """All fields optional: the default is the last LOOKBACK_DAYS complete UTC days, every
    configured source. `"mode": "heal"` instead re-reads what the schedule would: every
    source's missing, failed and provisional days within BACKFILL_HORIZON_DAYS."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["window", "heal"] = Field(
        default="window", description="`window` (the default) or `heal`, which takes no window."
    )

    start_date: IsoDate | None = Field(default=None, description="First UTC day (inclusive).")
    end_date: IsoDate | None = Field(default=None, description="Last UTC day (inclusive).")
    sources: list[SourceName] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Source names (see GET /sources); default: every configured source.",
    )
    accounts: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Account names (see GET /sources); default: every configured account."
        " An unknown name is a 422 naming it.",
    )


class SourceProgressOut(BaseModel):
    account: str
    source: str
    status: SourceStatus
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
    skipped_by_reason: dict[str, int] = Field(
        description="Rows the table cannot take (a null email, …), per reason."
    )
    warnings: list[str] = Field(
        description="What the source did not apply, e.g. a day that came back empty."
    )
    details: dict[str, object] = Field(
        default_factory=dict,
        description="What the source measured beyond rows, e.g. cursor_spend's reconciliation"
        " of charged usage events with /teams/spend (USD amounts as decimal strings).",
    )
    retries: int
    rate_limit_waits: int
    rate_limit_wait_seconds: float
    error: str | None
    upstream_status: int | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_progress(cls, progress: SourceProgress) -> SourceProgressOut:
        values = {name: getattr(progress, name) for name in cls.model_fields if name != "error"}
        return cls(**values, error=progress.last_error)

    def to_progress(self) -> SourceProgress:
        values = self.model_dump(exclude={"error"})
        return SourceProgress(**values, last_error=self.error)


class RunOut(RunRecord):
    """A run: what was asked, where it stands, and each source's progress."""

    progress: tuple[SourceProgressOut, ...] = ()  # type: ignore[assignment]

    @classmethod
    def from_record(cls, run: RunRecord) -> RunOut:
        progress = tuple(SourceProgressOut.from_progress(p) for p in run.progress)
        return cls(**run.model_dump(exclude={"progress"}), progress=progress)


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
