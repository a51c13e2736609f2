"""The day writer as a source uses it: one label's complete rows of one day of a declared fact
table (`app.processing.facts.FactTable`), under the shrink guard, counted in the run's
progress. A new upstream with a table of its own writes through this and nothing else."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TypeVar

from app.orchestration.sources.contract import SourceRun
from app.processing.facts import FactTable
from app.repositories.day_rows import Row
from app.repositories.day_writer import replace_fact_day

F = TypeVar("F")


async def write_day(
    run: SourceRun,
    table: FactTable,
    label: str,
    day: date,
    facts: Sequence[F],
    to_row: Callable[[F], Row],
    *,
    suspect: bool = False,
) -> None:
    """Make the run's account's (`label`, `day`) of `table` hold exactly `facts`, in one
    transaction."""
    async with run.pool.acquire() as connection:
        counts = await replace_fact_day(
            connection, table, run.account, label, day, facts, to_row, run.scope.run_id,
            run.shrink.keeps(suspect),
        )  # fmt: skip
    run.written(counts, day)
