"""Whether a seat is used (pure): a seat whose tool fetched no day of the window is "no data" —
never "idle": nobody knows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum


class SeatStatus(StrEnum):
    ACTIVE = "active"
    LIGHT = "light"  # a few active days in the window
    IDLE = "idle"  # no active day in the window, though its days were fetched
    NEW = "new"  # granted within the window: its grace period
    NO_DATA = "no_data"  # its tool fetched no day of the window: use unknown


def seat_status(
    *,
    fetched_days: int,
    since: date | None,
    active_days: int,
    as_of: date,
    window_days: int,
    light_days: int,
) -> SeatStatus:
    if fetched_days == 0:
        return SeatStatus.NO_DATA
    if active_days == 0 and since is not None and since > as_of - timedelta(days=window_days):
        return SeatStatus.NEW
    if active_days == 0:
        return SeatStatus.IDLE
    return SeatStatus.LIGHT if active_days <= light_days else SeatStatus.ACTIVE


def seat_price(prices: Mapping[str, Decimal], tool: str, plan: str | None) -> Decimal | None:
    """A seat's monthly price: `tool:plan` (e.g. `copilot:enterprise`), else the tool's;
    None when the settings give none (what reclaiming saves is then unknown, not 0)."""
    if plan and (price := prices.get(f"{tool}:{plan}")) is not None:
        return price
    return prices.get(tool)
