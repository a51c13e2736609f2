"""Email normalisation: the join key between Cursor and Claude rows."""

from __future__ import annotations


def normalize_email(value: str | None) -> str | None:
    """Trim and lower-case; blank → None."""
    if value is None:
        return None
    cleaned = value.strip().lower()
    return cleaned or None
