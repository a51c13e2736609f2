"""Every categorization rule and edge, as one table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.upstreams.anthropic.categorization import WorkspaceCategories, placement
from app.upstreams.anthropic.facts import ClaudeLabel

CC = "wrkspc_cc"
LISTED = [(CC, "Claude Code"), ("wrkspc_prod", "Production"), ("wrkspc_arch", " claude  CODE ")]
CATEGORIES = WorkspaceCategories.build(
    configured_ids=["wrkspc_renamed"], listed=LISTED, persisted_ids=["wrkspc_seen_before"]
)

CASES = [
    # (case, source, workspace_id, expected)
    ("claude code analytics record", "claude_code_analytics", None, "claude_code"),
    (
        "analytics record whatever the workspace",
        "claude_code_analytics",
        "wrkspc_prod",
        "claude_code",
    ),
    ("usage in the workspace named Claude Code", "usage_report", CC, "claude_code"),
    ("cost in the workspace named Claude Code", "cost_report", CC, "claude_code"),
    ("archived workspace, name spaced and cased", "usage_report", "wrkspc_arch", "claude_code"),
    ("renamed workspace configured by id", "usage_report", "wrkspc_renamed", "claude_code"),
    ("workspace discovered by an earlier run", "cost_report", "wrkspc_seen_before", "claude_code"),
    ("ordinary workspace", "usage_report", "wrkspc_prod", "claude_api"),
    ("unknown workspace", "usage_report", "wrkspc_never_listed", "claude_api"),
    ("default workspace (null)", "usage_report", None, "claude_api"),
    ("default workspace cost (null)", "cost_report", None, "claude_api"),
    ("claude.ai activity", "claude_ai_activity", None, "claude_ai"),
    ("claude.ai analytics", "claude_ai_analytics", CC, "claude_ai"),
]


@pytest.mark.parametrize(
    ("case", "source", "workspace", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_rules(case: str, source: ClaudeLabel, workspace: str | None, expected: str) -> None:
    assert placement(source, workspace, CATEGORIES).platform == expected


def test_a_name_other_than_claude_code_is_not_enough() -> None:
    categories = WorkspaceCategories.build(listed=[("w1", "Claude Code Staging"), ("w2", "Code")])
    assert categories.claude_code_ids == frozenset()


SOURCES = st.sampled_from(
    [
        "claude_code_analytics",
        "usage_report",
        "cost_report",
        "claude_ai_activity",
        "claude_ai_analytics",
    ]
)


@given(
    source=SOURCES,
    workspace=st.one_of(st.none(), st.text(max_size=12)),
    ids=st.lists(st.text(max_size=12)),
)
def test_categorization_is_total(
    source: ClaudeLabel, workspace: str | None, ids: list[str]
) -> None:
    """Every row gets exactly one of the three platforms, whatever the inputs."""
    platform = placement(source, workspace, WorkspaceCategories.build(configured_ids=ids)).platform
    assert platform in {"claude_code", "claude_api", "claude_ai"}
