"""Cursor daily-usage rows → fact rows (pure functions, no I/O)."""

from __future__ import annotations

from app.processing.attribution import AttributionDirectory
from app.processing.emails import normalize_email
from app.upstreams.cursor.facts import CursorFact
from app.upstreams.cursor.models import CursorDailyRow


def cursor_fact(row: CursorDailyRow, directory: AttributionDirectory) -> CursorFact | None:
    """One Cursor row; None when the row has no usable email (counted as skipped upstream)."""
    email = normalize_email(row.email)
    if email is None:
        return None
    attribution = directory.direct(email)
    return CursorFact(
        usage_date=row.usage_date,
        email=email,
        cursor_user_id=None if row.userId is None else str(row.userId),
        is_active=row.isActive if row.isActive is not None else _any_activity(row),
        total_lines_added=row.totalLinesAdded,
        total_lines_deleted=row.totalLinesDeleted,
        accepted_lines_added=row.acceptedLinesAdded,
        accepted_lines_deleted=row.acceptedLinesDeleted,
        total_applies=row.totalApplies,
        total_accepts=row.totalAccepts,
        total_rejects=row.totalRejects,
        total_tabs_shown=row.totalTabsShown,
        total_tabs_accepted=row.totalTabsAccepted,
        composer_requests=row.composerRequests,
        chat_requests=row.chatRequests,
        agent_requests=row.agentRequests,
        cmdk_usages=row.cmdkUsages,
        subscription_included_reqs=row.subscriptionIncludedReqs,
        api_key_reqs=row.apiKeyReqs,
        usage_based_reqs=row.usageBasedReqs,
        bugbot_usages=row.bugbotUsages,
        most_used_model=row.mostUsedModel,
        apply_most_used_extension=row.applyMostUsedExtension,
        tab_most_used_extension=row.tabMostUsedExtension,
        client_version=row.clientVersion,
        attribution_method=attribution.method,
        attribution_confidence=attribution.confidence,
    )


def _any_activity(row: CursorDailyRow) -> bool:
    return any(
        (
            row.totalLinesAdded,
            row.totalApplies,
            row.totalTabsShown,
            row.composerRequests,
            row.chatRequests,
            row.agentRequests,
            row.cmdkUsages,
            row.bugbotUsages,
        )
    )
