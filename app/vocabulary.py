"""The words a run is described with: its statuses, its sources' statuses and its triggers.

This module is their one owner. The repositories write and query them, the API schemas and
metric labels enumerate them, and the migrations' CHECK constraints admit exactly these values
(a schema test compares them). It imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CRASHED = "crashed"


ACTIVE_RUN_STATUSES: tuple[RunStatus, ...] = (RunStatus.QUEUED, RunStatus.RUNNING)
TERMINAL_RUN_STATUSES: tuple[RunStatus, ...] = tuple(
    status for status in RunStatus if status not in ACTIVE_RUN_STATUSES
)


class SourceStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED_SOURCE_STATUSES: tuple[SourceStatus, ...] = (SourceStatus.PENDING, SourceStatus.RUNNING)


class RunTrigger(StrEnum):
    API = "api"
    SCHEDULE = "schedule"
    CLI = "cli"


class ApiScope(StrEnum):
    """What an API token may do. Each scope includes the ones before it: `read` every GET,
    `trigger` also queueing and cancelling its own runs, `admin` also cancelling anyone's and
    queueing past the per-token cap."""

    READ = "read"
    TRIGGER = "trigger"
    ADMIN = "admin"

    def includes(self, needed: ApiScope) -> bool:
        order = list(ApiScope)
        return order.index(self) >= order.index(needed)


def sql_list(values: tuple[StrEnum, ...] | type[StrEnum]) -> str:
    """`'a', 'b'` for an SQL `IN (…)`: the values are this module's constants, never input."""
    return ", ".join(f"'{value.value}'" for value in values)


class CoverageState(StrEnum):
    """How a (source, day) is known: never fetched, its last fetch failed, fetched but the
    upstream may still revise it, or fetched after its revision horizon passed."""

    MISSING = "missing"
    FAILED = "failed"
    PROVISIONAL = "provisional"
    FINAL = "final"


# How a state is drawn wherever a calendar shows it (the dashboard, the CLI's coverage).
COVERAGE_SYMBOLS = {
    CoverageState.FINAL: "✓", CoverageState.PROVISIONAL: "~", CoverageState.FAILED: "✗",
    CoverageState.MISSING: "·",
}  # fmt: skip


NEEDS_FETCH: tuple[CoverageState, ...] = (
    CoverageState.MISSING,
    CoverageState.FAILED,
    CoverageState.PROVISIONAL,
)
