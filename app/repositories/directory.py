"""The directory: admin-maintained key owners, the workspaces discovered as Claude Code
workspaces, and the history of every user and API key the upstreams ever showed.

History is what lets attribution use what was known: the Admin `users` list forgets people who
left and a key may be renamed, but a re-read of their months must still name them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from app.accounts import DEFAULT_ACCOUNT
from app.processing.attribution import SeenUser


@dataclass(frozen=True)
class KeyOwner:
    api_key_id: str | None
    key_name: str | None
    owner_email: str
    note: str | None = None
    account: str = DEFAULT_ACCOUNT  # the organisation whose key it is


async def key_owners(connection: asyncpg.Connection, account: str | None) -> list[KeyOwner]:
    """The account's mappings (every account's with None)."""
    rows = await connection.fetch(
        "SELECT api_key_id, key_name, owner_email, note, account FROM api_key_owners"
        " WHERE $1::text IS NULL OR account = $1 ORDER BY id",
        account,
    )
    return [
        KeyOwner(r["api_key_id"], r["key_name"], r["owner_email"], r["note"], r["account"])
        for r in rows
    ]


async def replace_key_owners(connection: asyncpg.Connection, owners: Sequence[KeyOwner]) -> None:
    """All-or-nothing import: the table ends up exactly as `owners` (validated by the caller),
    with each mapping by key name pinned to its key where the directory knows the key."""
    async with connection.transaction():
        await connection.execute("DELETE FROM api_key_owners")
        await connection.executemany(
            "INSERT INTO api_key_owners (api_key_id, key_name, owner_email, note, account)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(o.api_key_id, o.key_name, o.owner_email, o.note, o.account) for o in owners],
        )
        for account in sorted({owner.account for owner in owners}):
            await pin_owner_names(connection, account)


async def pin_owner_names(connection: asyncpg.Connection, account: str) -> int:
    """A mapping by key name follows its key through renames: once exactly one key of the
    account ever had the name (and the key has no mapping of its own), the mapping records the
    key's id."""
    candidates = await connection.fetch(
        """
        SELECT o.id, min(n.api_key_id) AS api_key_id
          FROM api_key_owners o
          JOIN directory_api_key_names n ON n.account = o.account AND n.name = o.key_name
         WHERE o.api_key_id IS NULL AND o.account = $1
         GROUP BY o.id
        HAVING count(DISTINCT n.api_key_id) = 1
        """,
        account,
    )
    claimed = {
        row["api_key_id"]
        for row in await connection.fetch(
            "SELECT api_key_id FROM api_key_owners WHERE api_key_id IS NOT NULL AND account = $1",
            account,
        )
    }
    pins: dict[str, int] = {}
    for row in candidates:
        if row["api_key_id"] in claimed:
            continue
        if row["api_key_id"] in pins:  # two names of one key both mapped: ambiguous
            pins[row["api_key_id"]] = -1
        else:
            pins[row["api_key_id"]] = row["id"]
    chosen = [(owner_id, key_id) for key_id, owner_id in pins.items() if owner_id >= 0]
    await connection.executemany(
        "UPDATE api_key_owners SET api_key_id = $2, updated_at = now() WHERE id = $1", chosen
    )
    return len(chosen)


# --- users and keys, as the upstreams showed them over time ---------------------------------


@dataclass(frozen=True)
class SeenKey:
    api_key_id: str
    name: str | None
    workspace_id: str | None
    created_by_user_id: str | None
    principal_type: str | None
    principal_id: str | None
    status: str | None


@dataclass(frozen=True)
class KnownKey:
    seen: SeenKey
    names: tuple[str, ...]  # every name the key has had
    claude_code_since: date | None


async def remember_users(
    connection: asyncpg.Connection, account: str, users: Sequence[SeenUser], *, complete: bool
) -> None:
    """Upsert what a list showed; a known email is never overwritten with nothing. `complete`:
    `users` is the whole current users list, so everyone else is gone (until listed again)."""
    async with connection.transaction():
        await connection.executemany(
            """
            INSERT INTO directory_users (user_id, email, name, account) VALUES ($1, $2, $3, $5)
            ON CONFLICT (account, user_id) DO UPDATE
               SET email = coalesce(EXCLUDED.email, directory_users.email),
                   name = coalesce(EXCLUDED.name, directory_users.name),
                   last_seen_at = now(),
                   gone_since = CASE WHEN $4 THEN NULL ELSE directory_users.gone_since END
            """,
            [(u.user_id, u.email, u.name, complete, account) for u in users],
        )
        if complete:
            await connection.execute(
                "UPDATE directory_users SET gone_since = now()"
                " WHERE account = $2 AND gone_since IS NULL AND NOT user_id = ANY($1::text[])",
                [u.user_id for u in users],
                account,
            )


async def remembered_users(connection: asyncpg.Connection, account: str) -> list[tuple[str, str]]:
    """(user id, email) of everyone the account ever showed with an email, gone or not."""
    rows = await connection.fetch(
        "SELECT user_id, email FROM directory_users WHERE account = $1 AND email IS NOT NULL"
        " ORDER BY user_id",
        account,
    )
    return [(row["user_id"], row["email"]) for row in rows]


async def remember_keys(
    connection: asyncpg.Connection, account: str, keys: Sequence[SeenKey]
) -> None:
    """Upsert every key listed (any status) and each name it was listed under."""
    async with connection.transaction():
        await connection.executemany(
            """
            INSERT INTO directory_api_keys (api_key_id, name, workspace_id, created_by_user_id,
                                            principal_type, principal_id, status, account)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (account, api_key_id) DO UPDATE
               SET name = EXCLUDED.name, workspace_id = EXCLUDED.workspace_id,
                   created_by_user_id = coalesce(EXCLUDED.created_by_user_id,
                                                 directory_api_keys.created_by_user_id),
                   principal_type = EXCLUDED.principal_type,
                   principal_id = EXCLUDED.principal_id,
                   status = EXCLUDED.status, last_seen_at = now()
            """,
            [
                (k.api_key_id, k.name, k.workspace_id, k.created_by_user_id,
                 k.principal_type, k.principal_id, k.status, account)
                for k in keys
            ],
        )  # fmt: skip
        await connection.executemany(
            """
            INSERT INTO directory_api_key_names (api_key_id, name, account) VALUES ($1, $2, $3)
            ON CONFLICT (account, api_key_id, name) DO UPDATE SET last_seen_at = now()
            """,
            [(k.api_key_id, k.name, account) for k in keys if k.name],
        )


async def remembered_keys(connection: asyncpg.Connection, account: str) -> list[KnownKey]:
    rows = await connection.fetch(
        """
        SELECT k.*, coalesce(array_agg(n.name ORDER BY n.first_seen_at, n.name)
                             FILTER (WHERE n.name IS NOT NULL), '{}') AS names
          FROM directory_api_keys k
          LEFT JOIN directory_api_key_names n USING (account, api_key_id)
         WHERE k.account = $1
         GROUP BY k.account, k.api_key_id
         ORDER BY k.api_key_id
        """,
        account,
    )
    return [
        KnownKey(
            SeenKey(
                row["api_key_id"], row["name"], row["workspace_id"], row["created_by_user_id"],
                row["principal_type"], row["principal_id"], row["status"],
            ),
            tuple(row["names"]),
            row["claude_code_since"],
        )
        for row in rows
    ]  # fmt: skip


async def learn_claude_code_keys(
    connection: asyncpg.Connection, account: str, first_named: Mapping[str, date]
) -> None:
    """Keys Claude Code analytics named, with the earliest day each was named."""
    await connection.executemany(
        """
        UPDATE directory_api_keys
           SET claude_code_since = LEAST(coalesce(claude_code_since, $2), $2)
         WHERE account = $3 AND api_key_id = $1
        """,
        [(key_id, day, account) for key_id, day in first_named.items()],
    )


async def claude_code_workspace_ids(connection: asyncpg.Connection, account: str) -> set[str]:
    rows = await connection.fetch(
        "SELECT workspace_id FROM known_workspaces WHERE account = $1"
        " AND claude_code_since IS NOT NULL",
        account,
    )
    return {row["workspace_id"] for row in rows}


async def remember_workspaces(
    connection: asyncpg.Connection,
    account: str,
    workspaces: Iterable[tuple[str, str, datetime | None, bool]],
) -> None:
    """Upsert (id, name, archived_at, is_claude_code); once Claude Code, always Claude Code."""
    await connection.executemany(
        """
        INSERT INTO known_workspaces (workspace_id, name, archived_at, claude_code_since, account)
        VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END, $5)
        ON CONFLICT (account, workspace_id) DO UPDATE
           SET name = EXCLUDED.name,
               archived_at = EXCLUDED.archived_at,
               claude_code_since = coalesce(known_workspaces.claude_code_since,
                                            EXCLUDED.claude_code_since),
               updated_at = now()
        """,
        [(*workspace, account) for workspace in workspaces],
    )
