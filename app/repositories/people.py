"""People across accounts: extra addresses that belong to one person (`person_aliases`), read
by the `ai_usage_by_person_day` view, and who the logins of services that name people by login
are (`person_logins`), read by the upstreams that do (GitHub's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from app.repositories.rollups import mark_every_month


@dataclass(frozen=True)
class Alias:
    alias_email: str  # an address the upstreams show …
    person_email: str  # … that belongs to the person known by this one
    note: str | None = None


async def aliases(connection: asyncpg.Connection) -> list[Alias]:
    rows = await connection.fetch(
        "SELECT alias_email, person_email, note FROM person_aliases ORDER BY person_email, 1"
    )
    return [Alias(row["alias_email"], row["person_email"], row["note"]) for row in rows]


async def replace_table(
    connection: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
    *,
    reshapes_rollups: bool = False,
) -> None:
    """All-or-nothing: an operator's list (validated whole by the caller) replaces `table`.
    A list that shapes every rollup (who is who, who is in which team) marks every month for
    a rebuild, in the same transaction."""
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    async with connection.transaction():
        await connection.execute(f"DELETE FROM {table}")
        await connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
        )
        if reshapes_rollups:
            await mark_every_month(connection)


async def replace_aliases(connection: asyncpg.Connection, listed: Sequence[Alias]) -> None:
    rows = [(a.alias_email, a.person_email, a.note) for a in listed]
    await replace_table(
        connection, "person_aliases", ("alias_email", "person_email", "note"), rows,
        reshapes_rollups=True,
    )  # fmt: skip


@dataclass(frozen=True)
class Login:
    """An operator's word on who a login of a service (GitHub's) is."""

    service: str
    login: str
    email: str
    note: str | None = None


async def logins(connection: asyncpg.Connection, service: str | None = None) -> list[Login]:
    rows = await connection.fetch(
        "SELECT service, login, email, note FROM person_logins"
        " WHERE $1::text IS NULL OR service = $1 ORDER BY service, login",
        service,
    )
    return [Login(row["service"], row["login"], row["email"], row["note"]) for row in rows]


async def replace_logins(connection: asyncpg.Connection, listed: Sequence[Login]) -> None:
    rows = [(i.service, i.login, i.email, i.note) for i in listed]
    await replace_table(connection, "person_logins", ("service", "login", "email", "note"), rows)
