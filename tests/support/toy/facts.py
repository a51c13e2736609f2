"""The toy upstream's fact rows, its label and its table (created by its migration)."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from app.processing.attribution import AttributionDirectory
from app.processing.facts import FactTable
from tests.support.toy.models import ToyUsage


class ToyLabel(StrEnum):
    USAGE = "toy_usage"


@dataclass(frozen=True)
class ToyFact:
    usage_date: date
    source: str
    email: str
    events: int
    attribution_method: str
    attribution_confidence: Decimal


TOY_TABLE = FactTable(
    "fact_toy_daily_usage",
    columns=tuple(ToyFact.__dataclass_fields__),
    key="email",
)


def toy_facts(day: date, rows: list[ToyUsage], directory: AttributionDirectory) -> list[ToyFact]:
    facts = []
    for row in rows:
        person = directory.person(row.email, None)
        assert person.email is not None
        facts.append(
            ToyFact(day, ToyLabel.USAGE, person.email, row.events, person.method, person.confidence)
        )
    return facts


def toy_row(fact: ToyFact) -> tuple[Any, ...]:
    return astuple(fact)
