"""The shrink guard: the one rule for a day that comes back with nothing.

A day that comes back empty while other days of the same answer had rows is *suspect* (a
server-side gap, or a chunk boundary read differently than we assume). A suspect day that
holds rows is kept as it was — said once per source at its end (`SourceTracker.warn_kept`) —
unless ALLOW_EMPTY_DAY_REPLACEMENT says to apply it. The same empty answer for a day that
holds nothing is a quiet day, written as such. Every source asks this object, so the rule and
its message are the same whatever the upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings


@dataclass(frozen=True)
class ShrinkGuard:
    applies: bool  # False with ALLOW_EMPTY_DAY_REPLACEMENT=true: empty answers are applied

    @classmethod
    def of(cls, settings: Settings) -> ShrinkGuard:
        return cls(applies=not settings.allow_empty_day_replacement)

    @staticmethod
    def suspect(*, empty: bool, others_had_rows: bool) -> bool:
        """Whether an empty answer for a day is suspect: other days of the answer had rows."""
        return empty and others_had_rows

    def keeps(self, suspect: bool) -> bool:
        """Whether a day's rows stay as they are when the answer for it is suspect."""
        return self.applies and suspect
