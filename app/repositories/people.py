"""People across accounts: extra addresses that belong to one person (`person_aliases`), read
by the `ai_usage_by_person_day` view, and who the logins of services that name people by login
are (`person_logins`), read by the upstreams that do (GitHub's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


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


async def replace_aliases(connection: asyncpg.Connection, listed: Sequence[Alias]) -> None:
    """All-or-nothing: the table ends up exactly as `listed` (validated by the caller)."""
    async with connection.transaction():
        await connection.execute("DELETE FROM person_aliases")
        await connection.executemany(
            "INSERT INTO person_aliases (alias_email, person_email, note) VALUES ($1, $2, $3)",
            [(a.alias_email, a.person_email, a.note) for a in listed],
        )


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
    """All-or-nothing: the table ends up exactly as `listed` (validated by the caller)."""
    async with connection.transaction():
        await connection.execute("DELETE FROM person_logins")
        await connection.executemany(
            "INSERT INTO person_logins (service, login, email, note) VALUES ($1, $2, $3, $4)",
            [(item.service, item.login, item.email, item.note) for item in listed],
        )
