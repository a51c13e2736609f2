"""Platform categorization of Claude rows: claude_code, claude_api or claude_ai.

- Claude Code analytics records are `claude_code`.
- Messages-usage and cost rows in a Claude Code workspace are `claude_code`; a workspace is a
  Claude Code workspace when configured (CLAUDE_CODE_WORKSPACE_IDS), when the workspaces list
  names it "Claude Code" (archived or not), or when an earlier run discovered it (so a renamed
  workspace keeps its platform).
- Messages-usage rows of a Claude Code key are `claude_code` whatever their workspace: a key
  Claude Code analytics named as an `api_actor` (matched to exactly one key) is one from the
  first day it was named. Later days keep the platform when the key falls silent; earlier
  days are not moved.
- Every other such row is `claude_api`, including the Default Workspace (`workspace_id` null)
  and Console usage without an API key.
- claude.ai activity-feed rows are `claude_ai`; Enterprise Analytics rows are `claude_code` for
  the `claude_code` product and `claude_ai` for every other named product. Usage the upstream
  reports as product `"other"` or with no product (it "cannot be attributed to a known
  surface", code execution among it) is `claude_ai` too, by default rather than by the source's
  word: `platform_basis` says `unattributed_product`.

Each row records the rule that placed it in `platform_basis`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from app.upstreams.anthropic.facts import ClaudeLabel, Platform

CLAUDE_CODE_WORKSPACE_NAME = "claude code"
CLAUDE_CODE_PRODUCT = "claude_code"

# platform_basis values
BY_SOURCE = "source"  # the source itself says (Claude Code analytics, claude.ai, a product)
BY_CLAUDE_CODE_WORKSPACE = "claude_code_workspace"
BY_CLAUDE_CODE_KEY = "claude_code_key"
BY_OTHER_WORKSPACE = "other_workspace"
BY_DEFAULT_FOR_UNATTRIBUTED = "unattributed_product"  # Analytics' "other" or no product
UNATTRIBUTED_PRODUCTS = (None, "other")


class Placement(NamedTuple):
    platform: Platform
    basis: str


def is_claude_code_workspace_name(name: str) -> bool:
    return " ".join(name.split()).lower() == CLAUDE_CODE_WORKSPACE_NAME


@dataclass(frozen=True)
class WorkspaceCategories:
    claude_code_ids: frozenset[str]
    # Claude Code keys learned from analytics: key id → the first day it was named.
    claude_code_keys: Mapping[str, date] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        configured_ids: Iterable[str] = (),
        listed: Iterable[tuple[str, str]] = (),
        persisted_ids: Iterable[str] = (),
        claude_code_keys: Mapping[str, date] | None = None,
    ) -> WorkspaceCategories:
        """`listed` holds (id, name) pairs from the workspaces list."""
        discovered = {wid for wid, name in listed if is_claude_code_workspace_name(name)}
        return cls(
            frozenset(configured_ids) | discovered | frozenset(persisted_ids),
            dict(claude_code_keys or {}),
        )

    def with_keys(self, learned: Mapping[str, date]) -> WorkspaceCategories:
        """These categories plus keys learned since they were built (earliest day wins)."""
        keys = dict(self.claude_code_keys)
        for key_id, since in learned.items():
            keys[key_id] = min(keys.get(key_id, since), since)
        return WorkspaceCategories(self.claude_code_ids, keys)

    def is_claude_code_key(self, api_key_id: str | None, day: date) -> bool:
        since = self.claude_code_keys.get(api_key_id) if api_key_id else None
        return since is not None and since <= day

    def platform_of_workspace(self, workspace_id: str | None) -> Platform:
        if workspace_id is not None and workspace_id in self.claude_code_ids:
            return "claude_code"
        return "claude_api"


def placement(
    source: ClaudeLabel,
    workspace_id: str | None,
    categories: WorkspaceCategories,
    *,
    api_key_id: str | None = None,
    day: date | None = None,
    product: str | None = None,
) -> Placement:
    """The one platform of a row, and the rule that placed it; total over every source."""
    if source == ClaudeLabel.CLAUDE_CODE_ANALYTICS:
        return Placement("claude_code", BY_SOURCE)
    if source == ClaudeLabel.CLAUDE_AI_ANALYTICS and product == CLAUDE_CODE_PRODUCT:
        return Placement("claude_code", BY_SOURCE)
    if source == ClaudeLabel.CLAUDE_AI_ANALYTICS and product in UNATTRIBUTED_PRODUCTS:
        return Placement("claude_ai", BY_DEFAULT_FOR_UNATTRIBUTED)
    if source in (ClaudeLabel.CLAUDE_AI_ACTIVITY, ClaudeLabel.CLAUDE_AI_ANALYTICS):
        return Placement("claude_ai", BY_SOURCE)
    if source not in (ClaudeLabel.USAGE_REPORT, ClaudeLabel.COST_REPORT):
        raise ValueError(f"no platform rule places rows of {source!r}")  # a new label: say how
    if categories.platform_of_workspace(workspace_id) == "claude_code":
        return Placement("claude_code", BY_CLAUDE_CODE_WORKSPACE)
    if day is not None and categories.is_claude_code_key(api_key_id, day):
        return Placement("claude_code", BY_CLAUDE_CODE_KEY)
    return Placement("claude_api", BY_OTHER_WORKSPACE)
