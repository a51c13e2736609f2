"""Data the pipeline must not store as it came: the source fails with a message naming it."""

from __future__ import annotations


class UnusableData(ValueError):
    """An upstream answer the tables cannot hold truthfully (e.g. money not in USD)."""


def require_usd(currency: str | None, where: str) -> None:
    """Every amount is stored as USD: another currency fails its source rather than being
    summed as if it were dollars."""
    if currency is not None and currency.upper() != "USD":
        raise UnusableData(f"{where}: amount in {currency}, but the tables hold USD only")
