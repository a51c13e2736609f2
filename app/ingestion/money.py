"""Upstream money → `Decimal` USD, in one place.

Anthropic's cost report and Enterprise cost endpoints send decimal *strings* in cents
("123.45" = $1.2345); Claude Code's `estimated_cost.amount` and Cursor's money fields are JSON
*numbers* in cents. JSON numbers are parsed as `Decimal` (never float) by the HTTP layer.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CENTS_PER_DOLLAR = Decimal(100)


def cents_to_usd(cents: Decimal | int | str) -> Decimal:
    """Exact conversion; rejects floats so no binary rounding can sneak in."""
    if isinstance(cents, float):
        raise TypeError("money must not be a float")
    try:
        value = Decimal(cents)
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {cents!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {cents!r}")
    return value / CENTS_PER_DOLLAR
