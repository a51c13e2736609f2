"""Complete days from a page chain, whatever the upstream does to the chain.

Every paged client restarts its chain from page 1 when the upstream rejects or expires a page
cursor (`app.ingestion.pagination.restartable`), flagging the first page of the new chain
`restarted`. Items arrive grouped by day (oldest or newest first); a day is complete when an
item of another day arrives, or when the chain ends. On a restart the day in progress is
discarded, and items of days already complete are dropped as the chain replays them: each day
is built from one complete set of items, once.

Empty days are held to the end of the chain and handed on marked `suspect` as the shrink
guard (`app.orchestration.sources.shrink`) says: when any other day of the chain had rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from app.ingestion.pagination import Page
from app.orchestration.sources.contract import SourceRun
from app.orchestration.sources.shrink import ShrinkGuard

I = TypeVar("I")  # noqa: E741 - an item of a page
A = TypeVar("A")  # what a day's items are folded into
I_contra = TypeVar("I_contra", contravariant=True)  # an item a fold accepts


@dataclass(frozen=True)
class Day(Generic[A]):
    day: date
    value: A
    suspect: bool = False  # empty while other days of the answer had rows


class DayFold(Generic[I_contra, A]):
    """How a source folds a day's items: a new accumulator, adding an item, and whether the
    folded day is empty."""

    def __init__(
        self,
        day_of: Callable[[I_contra], date],
        new: Callable[[], A],
        add: Callable[[A, Iterable[I_contra]], None],
        empty: Callable[[A], bool],
    ) -> None:
        self.day_of, self.new, self.add, self.empty = day_of, new, add, empty


async def complete_days(
    run: SourceRun,
    pages: AsyncIterator[Page[I]],
    fold: DayFold[I, A],
    every_day: Iterable[date] = (),
) -> AsyncIterator[Day[A]]:
    """The chain's days, each complete and once; empty days last (see the shrink guard), with
    the days of `every_day` the chain never mentioned among them."""
    done: set[date] = set()
    current: date | None = None
    value = fold.new()
    held: list[Day[A]] = []
    any_rows = False

    def finished(day: date, folded: A) -> Day[A] | None:
        nonlocal any_rows
        done.add(day)
        if fold.empty(folded):
            held.append(Day(day, folded))
            return None
        any_rows = True
        return Day(day, folded)

    async for page in run.pages(pages):
        if page.restarted:
            current, value = None, fold.new()
        run_of_day: list[I] = []
        for item in page.items:
            day = fold.day_of(item)
            if day in done:
                continue  # replayed by a restarted chain: already complete
            if current is not None and day != current:
                fold.add(value, run_of_day)
                run_of_day = []
                if (complete := finished(current, value)) is not None:
                    yield complete
                value = fold.new()
            current = day
            run_of_day.append(item)
        fold.add(value, run_of_day)
        del page, run_of_day
    if current is not None and (complete := finished(current, value)) is not None:
        yield complete
    held += [Day(day, fold.new()) for day in every_day if day not in done]
    for empty in held:
        yield Day(
            empty.day,
            empty.value,
            suspect=ShrinkGuard.suspect(empty=True, others_had_rows=any_rows),
        )
