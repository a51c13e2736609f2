"""Admin-maintained key owners and the workspaces discovered as Claude Code workspaces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class KeyOwner:
    api_key_id: str | None
    key_name: str | None
    owner_email: str
    note: str | None = None


async def key_owners(connection: asyncpg.Connection) -> list[KeyOwner]:
    rows = await connection.fetch(
        "SELECT api_key_id, key_name, owner_email, note FROM api_key_owners ORDER BY id"
    )
    return [KeyOwner(r["api_key_id"], r["key_name"], r["owner_email"], r["note"]) for r in rows]


async def replace_key_owners(connection: asyncpg.Connection, owners: Sequence[KeyOwner]) -> None:
    """All-or-nothing import: the table ends up exactly as `owners` (validated by the caller)."""
    async with connection.transaction():
        await connection.execute("DELETE FROM api_key_owners")
        await connection.executemany(
            "INSERT INTO api_key_owners (api_key_id, key_name, owner_email, note)"
            " VALUES ($1, $2, $3, $4)",
            [(o.api_key_id, o.key_name, o.owner_email, o.note) for o in owners],
        )


async def claude_code_workspace_ids(connection: asyncpg.Connection) -> set[str]:
    rows = await connection.fetch(
        "SELECT workspace_id FROM known_workspaces WHERE claude_code_since IS NOT NULL"
    )
    return {row["workspace_id"] for row in rows}


async def remember_workspaces(
    connection: asyncpg.Connection,
    workspaces: Iterable[tuple[str, str, datetime | None, bool]],
) -> None:
    """Upsert (id, name, archived_at, is_claude_code); once Claude Code, always Claude Code."""
    await connection.executemany(
        """
        INSERT INTO known_workspaces (workspace_id, name, archived_at, claude_code_since)
        VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END)
        ON CONFLICT (workspace_id) DO UPDATE
           SET name = EXCLUDED.name,
               archived_at = EXCLUDED.archived_at,
               claude_code_since = coalesce(known_workspaces.claude_code_since,
                                            EXCLUDED.claude_code_since),
               updated_at = now()
        """,
        list(workspaces),
    )
