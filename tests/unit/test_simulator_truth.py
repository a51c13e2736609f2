"""The simulator's ground truth keeps its rendered views per instance: restating one truth
changes its own days and no other truth's."""

from __future__ import annotations

from datetime import date

from app.simulator.model import GroundTruth

DAY = date(2026, 8, 2)


def _tokens(truth: GroundTruth) -> list[int]:
    return [row.uncached_input_tokens for row in truth.usage_rows(DAY)]


def test_restating_one_truth_leaves_another_as_it_was() -> None:
    first, second = GroundTruth(seed=3, users=12), GroundTruth(seed=3, users=12)
    original = _tokens(first)
    assert _tokens(second) == original  # same seed, same truth; both views now rendered
    first.restate("claude", DAY, people=3)
    assert _tokens(first) != original
    assert _tokens(second) == original


def test_views_are_served_from_the_instance_until_restated() -> None:
    truth = GroundTruth(seed=5, users=8)
    assert truth.cost_lines(DAY) is truth.cost_lines(DAY)
    before = truth.cost_lines(DAY)
    truth.restate("claude", DAY, people=2)
    assert truth.cost_lines(DAY) is not before


def test_the_control_plane_makes_a_day_match_its_cost_only_loosely() -> None:
    from fastapi.testclient import TestClient

    from app.simulator.app import create_simulator

    truth = GroundTruth(seed=5, users=8)
    with TestClient(create_simulator(truth)) as client:
        response = client.post("/_sim/inexact-cost-days", json={"day": DAY.isoformat()})
    assert response.status_code == 200
    assert truth.inexact_cost_days == {DAY}
