"""How a response body becomes a value: JSON with exact decimals by default, or a decoder of the
caller's (a page model), from bytes or from a file the body was spooled to."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Generic, TypeAlias, TypeVar

from app.ingestion.errors import InvalidBody, NestedTooDeeply
from app.json_value import JsonValue

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Params: TypeAlias = Sequence[tuple[str, str | int]]


@dataclass(frozen=True)
class FromFile(Generic[T_co]):
    """A decoder that reads the body from a file. The body is written to a temporary file as it
    arrives instead of being held in memory: a 30-day Cursor page is 17 MB of JSON, and two are
    alive while the next one downloads."""

    read: Callable[[IO[bytes]], T_co]


Decoder: TypeAlias = Callable[[bytes], T] | FromFile[T]


def json_with_decimals(body: bytes) -> JsonValue:
    """The default decoder: JSON with every non-integer number as an exact `Decimal`."""
    try:
        value: JsonValue = json.loads(body, parse_float=Decimal)
    except RecursionError:
        raise NestedTooDeeply from None
    except ValueError as exc:
        raise InvalidBody(str(exc)) from None
    return value
