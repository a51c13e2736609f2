"""Upstream models: what the documents allow in field values."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import TypeAdapter

from app.ingestion.models import CursorDailyRow, MessagesUsageBucket


def test_a_timestamp_without_offset_is_utc() -> None:
    """Never the host's time zone: a naive timestamp is taken as UTC, explicitly."""
    bucket = MessagesUsageBucket.model_validate(
        {"starting_at": "2026-08-01T00:00:00", "ending_at": "2026-08-02T00:00:00Z", "results": []}
    )
    assert bucket.starting_at == datetime(2026, 8, 1, tzinfo=UTC)
    assert bucket.starting_at.astimezone(UTC).date().isoformat() == "2026-08-01"


def test_a_removed_members_null_email_is_a_row_not_a_broken_page() -> None:
    counters = dict.fromkeys(
        (
            "totalLinesAdded", "totalLinesDeleted", "acceptedLinesAdded", "acceptedLinesDeleted",
            "totalApplies", "totalAccepts", "totalRejects", "totalTabsShown", "totalTabsAccepted",
            "composerRequests", "chatRequests", "agentRequests", "cmdkUsages",
            "subscriptionIncludedReqs", "apiKeyReqs", "usageBasedReqs", "bugbotUsages",
        ),
        0,
    )  # fmt: skip
    row = TypeAdapter(CursorDailyRow).validate_python(
        {"email": None, "day": "2026-08-01", **counters}
    )
    assert row.email is None
