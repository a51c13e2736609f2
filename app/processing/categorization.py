"""Platform categorization of Claude rows: claude_code, claude_api or claude_ai.

- Claude Code analytics records are `claude_code`.
- Messages-usage and cost rows in a Claude Code workspace are `claude_code`; a workspace is a
  Claude Code workspace when configured (CLAUDE_CODE_WORKSPACE_IDS), when the workspaces list
  names it "Claude Code" (archived or not), or when an earlier run discovered it (so a renamed
  workspace keeps its platform). Every other such row is `claude_api`, including the Default
  Workspace (`workspace_id` null) and Console usage without an API key.
- claude.ai activity-feed and Enterprise Analytics chat rows are `claude_ai`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.processing.facts import ClaudeSource, Platform

CLAUDE_CODE_WORKSPACE_NAME = "claude code"


def is_claude_code_workspace_name(name: str) -> bool:
    return " ".join(name.split()).lower() == CLAUDE_CODE_WORKSPACE_NAME


@dataclass(frozen=True)
class WorkspaceCategories:
    claude_code_ids: frozenset[str]

    @classmethod
    def build(
        cls,
        *,
        configured_ids: Iterable[str] = (),
        listed: Iterable[tuple[str, str]] = (),
        persisted_ids: Iterable[str] = (),
    ) -> WorkspaceCategories:
        """`listed` holds (id, name) pairs from the workspaces list."""
        discovered = {wid for wid, name in listed if is_claude_code_workspace_name(name)}
        return cls(frozenset(configured_ids) | discovered | frozenset(persisted_ids))

    def platform_of_workspace(self, workspace_id: str | None) -> Platform:
        if workspace_id is not None and workspace_id in self.claude_code_ids:
            return "claude_code"
        return "claude_api"


def platform_of(
    source: ClaudeSource, workspace_id: str | None, categories: WorkspaceCategories
) -> Platform:
    """The one platform of a row; total over every source."""
    if source == "claude_code_analytics":
        return "claude_code"
    if source in ("claude_ai_activity", "claude_ai_analytics"):
        return "claude_ai"
    return categories.platform_of_workspace(workspace_id)
