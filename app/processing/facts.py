"""What every fact table's rows share: folding rows that meet on one key (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar


class Keyed(Protocol):
    def key(self) -> Hashable: ...


def add(left: N | None, right: N | None) -> N | None:
    if left is None:
        return right
    if right is None:
        return left
    return left + right


F = TypeVar("F", bound=Keyed)
N = TypeVar("N", int, Decimal)  # a quantity two rows add up
V = TypeVar("V", int, Decimal, str)  # a value two rows keep the least or greatest of


def fold(facts: Iterable[F], merge: Callable[[F, F], None]) -> list[F]:
    """One fact per key, in first-seen order; `merge` adds a later duplicate into the first."""
    folded: dict[Hashable, F] = {}
    for fact in facts:
        existing = folded.setdefault(fact.key(), fact)
        if existing is not fact:
            merge(existing, fact)
    return list(folded.values())


def least(left: V | None, right: V | None) -> V | None:
    return right if left is None else left if right is None else min(left, right)


def greatest(left: V | None, right: V | None) -> V | None:
    return right if left is None else left if right is None else max(left, right)


@dataclass(frozen=True)
class FactTable:
    """A fact table an upstream package declares: its columns in write order, the column that
    is unique within an account's day (include the label in it when labels share a key), and
    the column that holds each row's fact label. Every fact table also has `account` (the
    writer fills it; the key starts with it) and `run_id`. The repositories write it
    (`day_writer.replace_fact_day`) with no SQL of the package's own; its migration creates
    it."""

    name: str
    columns: tuple[str, ...]
    key: str
    label_column: str = "source"


@dataclass(frozen=True)
class SnapshotTable:
    """A table of a list an upstream only gives as "now" (GitHub's seats), kept with its
    history (`app.repositories.snapshots`): its columns in write order (the key's among them)
    and the columns unique within an account. It also has `account`, `first_seen_at`,
    `last_seen_at`, `removed_at` and `run_id`."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
