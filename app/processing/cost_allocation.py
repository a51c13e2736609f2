"""Allocate cost-report lines to messages-usage rows, conserving every cent.

A token line for (day, workspace, model, service tier, context window, inference geo, token
type) is split over the usage rows with the same coordinates in proportion to their tokens of
that type; a web-search line over the workspace's rows by `web_search_requests`. A dimension the
line leaves null matches any value, except `workspace_id`, where null *is* the Default
Workspace. Parts are whole multiples of a quantum no coarser than the line's own precision,
rounded by largest remainder, so they sum exactly to the line. A line that matches no usage
(or only zero weight) is kept whole as a residual.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.processing.facts import ClaudeFact

MAX_QUANTUM_EXPONENT = -10  # parts are at least this fine: 1e-10 USD


@dataclass(frozen=True)
class CostLine:
    workspace_id: str | None
    description: str | None
    cost_type: str | None
    model: str | None
    token_type: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    amount_usd: Decimal


@dataclass
class Allocation:
    """`costs[i]` is usage row i's allocated cost (None: nothing allocated to it)."""

    costs: list[Decimal | None]
    residuals: list[CostLine]


WEIGHTS: dict[str, Callable[[ClaudeFact], int]] = {
    "uncached_input_tokens": lambda row: row.uncached_input_tokens,
    "output_tokens": lambda row: row.output_tokens,
    "cache_read_input_tokens": lambda row: row.cache_read_input_tokens,
    "cache_creation.ephemeral_5m_input_tokens": lambda row: row.cache_creation_5m_input_tokens,
    "cache_creation.ephemeral_1h_input_tokens": lambda row: row.cache_creation_1h_input_tokens,
}


def _weight_of(line: CostLine) -> Callable[[ClaudeFact], int] | None:
    if line.cost_type == "web_search":
        return lambda row: row.web_search_requests
    if line.cost_type in (None, "tokens") and line.token_type in WEIGHTS:
        return WEIGHTS[line.token_type]
    return None  # code execution, session usage, …: nothing in the usage report to split by


Coordinates = tuple[str | None, str | None, str | None, str | None]


def _coordinates(row: ClaudeFact) -> Coordinates:
    return (row.model, row.service_tier, row.context_window, row.inference_geo)


def _line_coordinates(line: CostLine) -> Coordinates:
    return (line.model, line.service_tier, line.context_window, line.inference_geo)


def _matches(wanted: Coordinates, actual: Coordinates) -> bool:
    """A cost line's null coordinate matches any value."""
    return all(w is None or w == a for w, a in zip(wanted, actual, strict=True))


def split_largest_remainder(amount: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """Split `amount` in proportion to non-negative integer `weights`; parts sum to `amount`."""
    total_weight = sum(weights)
    if total_weight <= 0:
        raise ValueError("weights must have a positive sum")
    raw_exponent = amount.as_tuple().exponent
    exponent = min(raw_exponent if isinstance(raw_exponent, int) else 0, MAX_QUANTUM_EXPONENT)
    quantum = Decimal(1).scaleb(exponent)
    units = int((abs(amount) / quantum).to_integral_value())
    sign = -1 if amount < 0 else 1
    shares = [units * weight // total_weight for weight in weights]
    remainders = [units * weight % total_weight for weight in weights]
    leftover = units - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:leftover]:
        shares[index] += 1
    return [sign * share * quantum for share in shares]


def allocate(lines: Sequence[CostLine], usage: Sequence[ClaudeFact]) -> Allocation:
    """Pure: the cost lines of one day against the usage rows of the same day."""
    costs: list[Decimal | None] = [None] * len(usage)
    residuals: list[CostLine] = []
    # workspace → coordinates → row indices (ascending): a line looks up its rows instead of
    # scanning the day (thousands of lines × thousands of rows).
    groups: dict[str | None, dict[Coordinates, list[int]]] = defaultdict(dict)
    for index, row in enumerate(usage):
        groups[row.workspace_id].setdefault(_coordinates(row), []).append(index)
    for line in lines:
        weight_of = _weight_of(line)
        if weight_of is None:
            residuals.append(line)
            continue
        wanted = _line_coordinates(line)
        in_workspace = groups.get(line.workspace_id, {})
        if None in wanted:
            matching = [rows for key, rows in in_workspace.items() if _matches(wanted, key)]
        else:
            matching = [in_workspace.get(wanted, [])]
        candidates = sorted(
            index for rows in matching for index in rows if weight_of(usage[index]) > 0
        )
        if not candidates:
            residuals.append(line)
            continue
        weights = [weight_of(usage[index]) for index in candidates]
        for index, part in zip(
            candidates, split_largest_remainder(line.amount_usd, weights), strict=True
        ):
            current = costs[index]
            costs[index] = part if current is None else current + part
    return Allocation(costs, residuals)
