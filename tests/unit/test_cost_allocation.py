"""Cost allocation: proportional, exact to the last digit, residuals kept whole."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.config import DEFAULT_CONFIDENCES
from app.processing.attribution import build_directory
from app.processing.cost_allocation import CostLine, allocate, split_largest_remainder
from app.upstreams.anthropic.categorization import WorkspaceCategories
from app.upstreams.anthropic.facts import ClaudeFact
from app.upstreams.anthropic.transform import apply_cost

DAY = date(2026, 8, 3)


def usage(
    key: str, workspace: str | None = "w", model: str = "m", tier: str = "standard", **tokens: int
) -> ClaudeFact:
    return ClaudeFact(
        usage_date=DAY, platform="claude_api", source="usage_report", attribution_method="unattributed",
        attribution_confidence=Decimal(0), api_key_id=key, workspace_id=workspace, model=model,
        service_tier=tier, context_window="0-200k", inference_geo="global", **tokens,
    )  # fmt: skip


def line(
    amount: str,
    workspace: str | None = "w",
    token_type: str | None = "output_tokens",
    cost_type: str = "tokens",
    **dims: str | None,
) -> CostLine:
    values: dict[str, str | None] = {
        "model": "m",
        "service_tier": "standard",
        "context_window": "0-200k",
        "inference_geo": "global",
    }
    values.update(dims)
    return CostLine(
        workspace_id=workspace,
        description="d",
        cost_type=cost_type,
        token_type=token_type,
        amount_usd=Decimal(amount),
        **values,
    )  # type: ignore[arg-type]


def test_split_in_proportion_to_tokens_of_that_type() -> None:
    rows = [
        usage("a", output_tokens=300),
        usage("b", output_tokens=100),
        usage("c", uncached_input_tokens=999),
    ]
    result = allocate([line("1.00")], rows)
    assert result.costs == [Decimal("0.75"), Decimal("0.25"), None]
    assert result.residuals == []


def test_largest_remainder_makes_parts_sum_exactly() -> None:
    parts = split_largest_remainder(Decimal("0.01"), [1, 1, 1])
    assert sum(parts) == Decimal("0.01")
    assert max(parts) - min(parts) == Decimal("1e-10")


def test_web_search_is_split_by_requests_and_matches_any_model() -> None:
    rows = [usage("a", web_search_requests=3), usage("b", model="other", web_search_requests=1)]
    search = line(
        "0.04",
        token_type=None,
        cost_type="web_search",
        model=None,
        service_tier=None,
        context_window=None,
        inference_geo=None,
    )
    assert allocate([search], rows).costs == [Decimal("0.03"), Decimal("0.01")]


def test_unmatched_cost_becomes_a_whole_residual() -> None:
    rows = [usage("a", output_tokens=10)]
    code_exec = line("2.50", token_type=None, cost_type="code_execution")
    other_workspace = line("1.00", workspace="elsewhere")
    default_workspace = line("0.10", workspace=None)  # null is the Default Workspace, not "any"
    result = allocate([code_exec, other_workspace, default_workspace], rows)
    assert result.residuals == [code_exec, other_workspace, default_workspace]
    assert result.residual_bases == ["no_usage_measure", "unmatched", "unmatched"]
    assert result.costs == [None]


def test_a_line_of_a_token_type_the_rows_lack_falls_back_to_the_model() -> None:
    """(workspace, model, token type) matches nothing: (workspace, model) by all tokens."""
    rows = [usage("a", output_tokens=10), usage("b", output_tokens=30)]
    no_tokens_of_type = line("0.40", token_type="cache_read_input_tokens")
    result = allocate([no_tokens_of_type], rows)
    assert result.residuals == []
    assert result.costs == [Decimal("0.10"), Decimal("0.30")]
    assert result.bases == ["model", "model"]


def test_apply_cost_writes_allocated_and_reported_rows() -> None:
    rows = [usage("a", output_tokens=1)]
    categories = WorkspaceCategories.build(configured_ids=["w"])
    residuals = apply_cost(
        DAY,
        rows,
        [line("1.5"), line("2", token_type=None, cost_type="code_execution")],
        categories,
        build_directory(confidences=DEFAULT_CONFIDENCES),
    )
    assert (rows[0].cost_usd, rows[0].cost_kind) == (Decimal("1.5"), "allocated")
    assert len(residuals) == 1
    residual = residuals[0]
    assert (residual.source, residual.platform, residual.cost_kind, residual.cost_usd) == (
        "cost_report",
        "claude_code",
        "reported",
        Decimal("2"),
    )
    assert (residual.user_email, residual.attribution_method) == (None, "unattributed")


AMOUNTS = st.decimals(
    min_value=Decimal("0"),
    max_value=Decimal("100000"),
    places=7,
    allow_nan=False,
    allow_infinity=False,
)
TOKEN_TYPES = st.sampled_from(
    [
        "uncached_input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation.ephemeral_5m_input_tokens",
        "cache_creation.ephemeral_1h_input_tokens",
    ]
)
WORKSPACES = st.sampled_from([None, "w1", "w2"])
MODELS = st.sampled_from(["m1", "m2"])


@st.composite
def day_of_billing(draw: st.DrawFn) -> tuple[list[CostLine], list[ClaudeFact]]:
    rows = [
        ClaudeFact(
            usage_date=DAY, platform="claude_api", source="usage_report", attribution_method="unattributed",
            attribution_confidence=Decimal(0), api_key_id=f"k{i}", workspace_id=draw(WORKSPACES), model=draw(MODELS),
            service_tier="standard", context_window="0-200k", inference_geo="global",
            uncached_input_tokens=draw(st.integers(0, 10**9)), output_tokens=draw(st.integers(0, 10**6)),
            cache_read_input_tokens=draw(st.integers(0, 10**7)),
            cache_creation_5m_input_tokens=draw(st.integers(0, 1000)), cache_creation_1h_input_tokens=draw(st.integers(0, 3)),
            web_search_requests=draw(st.integers(0, 5)),
        )
        for i in range(draw(st.integers(0, 8)))
    ]  # fmt: skip
    lines = [
        CostLine(
            workspace_id=draw(WORKSPACES), description="d", cost_type=draw(st.sampled_from(["tokens", "web_search", "code_execution"])),
            model=draw(st.one_of(st.none(), MODELS)), token_type=draw(TOKEN_TYPES), service_tier=draw(st.sampled_from([None, "standard", "batch"])),
            context_window=None, inference_geo=None, amount_usd=draw(AMOUNTS) / 100,
        )
        for _ in range(draw(st.integers(0, 10)))
    ]  # fmt: skip
    return lines, rows


@given(day_of_billing())
def test_cost_is_conserved_per_workspace_exactly(
    billing: tuple[list[CostLine], list[ClaudeFact]],
) -> None:
    lines, rows = billing
    result = allocate(lines, rows)
    for workspace in {line.workspace_id for line in lines}:
        allocated = sum(
            (
                cost
                for row, cost in zip(rows, result.costs, strict=True)
                if cost is not None and row.workspace_id == workspace
            ),
            Decimal(0),
        )
        residual = sum(
            (r.amount_usd for r in result.residuals if r.workspace_id == workspace), Decimal(0)
        )
        reported = sum(
            (line.amount_usd for line in lines if line.workspace_id == workspace), Decimal(0)
        )
        assert allocated + residual == reported
    assert all(cost is None or cost >= 0 for cost in result.costs)


@given(
    amount=AMOUNTS,
    weights=st.lists(st.integers(0, 10**12), min_size=1, max_size=30).filter(lambda w: sum(w) > 0),
)
def test_largest_remainder_parts_sum_to_the_amount(amount: Decimal, weights: list[int]) -> None:
    parts = split_largest_remainder(amount, weights)
    assert sum(parts) == amount
    assert all(part == 0 for part, weight in zip(parts, weights, strict=True) if weight == 0)


def test_documented_coordinate_mismatches_are_allocated_at_the_relaxed_level() -> None:
    """The usage report says `flex` where the cost report says `standard`; an older day's
    usage lacks `context_window`. Both lines land on their rows, each saying how."""
    flex = usage("flex", tier="flex", output_tokens=10)
    no_window = usage("old", model="older", output_tokens=5)
    no_window.context_window = None
    lines = [line("0.70"), line("0.20", model="older")]
    result = allocate(lines, [flex, no_window])
    assert result.residuals == []
    assert result.costs == [Decimal("0.70"), Decimal("0.20")]
    assert result.bases == ["any_service_tier", "any_context_window"]
