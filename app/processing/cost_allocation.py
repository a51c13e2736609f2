"""Allocate cost-report lines to messages-usage rows, conserving every cent.

A token line for (day, workspace, model, service tier, context window, inference geo, token
type) is split over the usage rows with the same coordinates in proportion to their tokens of
that type; a web-search line over the workspace's rows by `web_search_requests`. A dimension the
line leaves null matches any value, except `workspace_id`, where null *is* the Default
Workspace. Parts are whole multiples of a quantum no coarser than the line's own precision,
rounded by largest remainder, so they sum exactly to the line.

Cost coordinates match usage only loosely (the documents allow it): the usage report's
`service_tier` says `flex` where the cost report says `standard`, and older days lack
`context_window` or `inference_geo`. A line that matches no row exactly is tried at coarser
levels, in order — `inference_geo`, `context_window`, `service_tier` each relaxed alone, then
(workspace, model, token type), then (workspace, model) weighted by all tokens — and each row
records the coarsest level that placed cost on it (`allocation_basis`). Only a line that matches
nothing in its workspace, or that no usage measure can split (code execution, sessions), stays
whole as a residual.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

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


class MeteredUsage(Protocol):
    """A usage row as cost allocation sees it: where and how it ran, and what it used (a
    Claude fact row, or any upstream's row with these measures)."""

    @property
    def workspace_id(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def service_tier(self) -> str | None: ...
    @property
    def context_window(self) -> str | None: ...
    @property
    def inference_geo(self) -> str | None: ...
    @property
    def uncached_input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_input_tokens(self) -> int: ...
    @property
    def cache_creation_5m_input_tokens(self) -> int: ...
    @property
    def cache_creation_1h_input_tokens(self) -> int: ...
    @property
    def web_search_requests(self) -> int: ...


WEIGHTS: dict[str, Callable[[MeteredUsage], int]] = {
    "uncached_input_tokens": lambda row: row.uncached_input_tokens,
    "output_tokens": lambda row: row.output_tokens,
    "cache_read_input_tokens": lambda row: row.cache_read_input_tokens,
    "cache_creation.ephemeral_5m_input_tokens": lambda row: row.cache_creation_5m_input_tokens,
    "cache_creation.ephemeral_1h_input_tokens": lambda row: row.cache_creation_1h_input_tokens,
}


def _weight_of(line: CostLine) -> Callable[[MeteredUsage], int] | None:
    if line.cost_type == "web_search":
        return lambda row: row.web_search_requests
    if line.cost_type in (None, "tokens") and line.token_type in WEIGHTS:
        return WEIGHTS[line.token_type]
    return None  # code execution, session usage, …: nothing in the usage report to split by


Coordinates = tuple[str | None, str | None, str | None, str | None]
Mask = tuple[bool, bool, bool, bool]  # which coordinates must match


@dataclass(frozen=True)
class Level:
    basis: str
    required: Mask  # (model, service_tier, context_window, inference_geo)
    by_token_type: bool  # weight by the line's token type, else by every token of the row


LEVELS: tuple[Level, ...] = (
    Level("exact", (True, True, True, True), True),
    Level("any_inference_geo", (True, True, True, False), True),
    Level("any_context_window", (True, True, False, True), True),
    Level("any_service_tier", (True, False, True, True), True),
    Level("model_and_token_type", (True, False, False, False), True),
    Level("model", (True, False, False, False), False),
)
UNMATCHED = "unmatched"  # a residual: nothing in its workspace to split it by
NO_USAGE_MEASURE = "no_usage_measure"  # a residual: the usage report has nothing to split it by
RANK = {level.basis: rank for rank, level in enumerate(LEVELS)}


def _all_tokens(row: MeteredUsage) -> int:
    return (
        row.uncached_input_tokens
        + row.output_tokens
        + row.cache_read_input_tokens
        + row.cache_creation_5m_input_tokens
        + row.cache_creation_1h_input_tokens
    )


def _coordinates(row: MeteredUsage) -> Coordinates:
    return (row.model, row.service_tier, row.context_window, row.inference_geo)


def _line_coordinates(line: CostLine) -> Coordinates:
    return (line.model, line.service_tier, line.context_window, line.inference_geo)


def _matches(wanted: Coordinates, actual: Coordinates, required: Mask) -> bool:
    """A cost line's null coordinate matches any value, and so does one the level relaxes."""
    return all(
        not need or w is None or w == a for w, a, need in zip(wanted, actual, required, strict=True)
    )


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


@dataclass
class Allocation:
    """`costs[i]` is usage row i's allocated cost (None: nothing allocated to it) and
    `bases[i]` the coarsest level that placed any of it; residuals carry their own basis."""

    costs: list[Decimal | None]
    bases: list[str | None]
    residuals: list[CostLine]
    residual_bases: list[str]  # why each residual stayed whole


class _Day:
    """One day's usage rows, indexed by workspace and coordinates: a line looks its rows up
    instead of scanning the day (thousands of lines × thousands of rows)."""

    def __init__(self, usage: Sequence[MeteredUsage]) -> None:
        self.usage = usage
        self.groups: dict[str | None, dict[Coordinates, list[int]]] = defaultdict(dict)
        for index, row in enumerate(usage):
            self.groups[row.workspace_id].setdefault(_coordinates(row), []).append(index)

    def candidates(self, line: CostLine, level: Level) -> tuple[list[int], list[int]]:
        """Rows the line splits over at `level`, and their weights (all positive)."""
        weight_of = _weight_of(line) if level.by_token_type else _level_weight(line)
        if weight_of is None:
            return [], []
        wanted = _line_coordinates(line)
        in_workspace = self.groups.get(line.workspace_id, {})
        if all(level.required) and None not in wanted:
            matching = [in_workspace.get(wanted, [])]
        else:
            matching = [
                rows for key, rows in in_workspace.items() if _matches(wanted, key, level.required)
            ]
        rows = sorted(index for group in matching for index in group)
        weighted = [(index, weight_of(self.usage[index])) for index in rows]
        kept = [(index, weight) for index, weight in weighted if weight > 0]
        return [index for index, _ in kept], [weight for _, weight in kept]


def _level_weight(line: CostLine) -> Callable[[MeteredUsage], int] | None:
    """At the (workspace, model) level a token line is split by every token of the row."""
    if _weight_of(line) is None:
        return None
    return _weight_of(line) if line.cost_type == "web_search" else _all_tokens


def allocate(lines: Sequence[CostLine], usage: Sequence[MeteredUsage]) -> Allocation:
    """Pure: the cost lines of one day against the usage rows of the same day."""
    costs: list[Decimal | None] = [None] * len(usage)
    bases: list[str | None] = [None] * len(usage)
    residuals: list[CostLine] = []
    residual_bases: list[str] = []
    day = _Day(usage)
    for line in lines:
        if _weight_of(line) is None:
            residuals.append(line)
            residual_bases.append(NO_USAGE_MEASURE)
            continue
        for level in LEVELS:
            rows, weights = day.candidates(line, level)
            if rows:
                break
        else:
            residuals.append(line)
            residual_bases.append(UNMATCHED)
            continue
        for index, part in zip(
            rows, split_largest_remainder(line.amount_usd, weights), strict=True
        ):
            current = costs[index]
            costs[index] = part if current is None else current + part
            placed = bases[index]
            if placed is None or RANK[level.basis] > RANK[placed]:
                bases[index] = level.basis
    return Allocation(costs, bases, residuals, residual_bases)
