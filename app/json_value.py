"""The type of a JSON value as the service reads and stores it (numbers that are not integers as
exact `Decimal`s where it reads them). It imports nothing from the project, so every layer may
use it: upstream bodies (`app.ingestion.decoding`) and the `details` a source records."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeAlias

JsonValue: TypeAlias = (
    bool | int | float | Decimal | str | list["JsonValue"] | dict[str, "JsonValue"] | None
)
JsonObject: TypeAlias = dict[str, JsonValue]
