"""Teams, budgets, and the alerts outbox with its deliveries.

An alert is inserted once per `dedup_key` (`INSERT … ON CONFLICT DO NOTHING`), with one
delivery per webhook target, in one transaction: whichever replica, run or revision evaluates
a crossing first records it, and nothing else ever does. Deliveries are claimed with `FOR UPDATE
SKIP LOCKED` and leased (their next attempt moved ahead) so two workers never send one twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from app.repositories.people import replace_table

# --- teams ------------------------------------------------------------------------------------


TEAM_COLUMNS = ("email", "team", "effective_from", "note")


@dataclass(frozen=True)
class TeamMember:
    email: str
    team: str
    effective_from: date
    note: str | None = None


async def teams(connection: asyncpg.Connection) -> list[TeamMember]:
    rows = await connection.fetch(
        "SELECT email, team, effective_from, note FROM person_teams ORDER BY email, 3"
    )
    return [TeamMember(*row) for row in rows]


async def replace_teams(connection: asyncpg.Connection, listed: Sequence[TeamMember]) -> None:
    rows = [(m.email, m.team, m.effective_from, m.note) for m in listed]
    await replace_table(connection, "person_teams", TEAM_COLUMNS, rows, reshapes_rollups=True)


# --- budgets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    id: int
    scope: str
    scope_value: str
    monthly_usd: Decimal
    thresholds: tuple[Decimal, ...]


_BUDGET = "SELECT id, scope, scope_value, monthly_usd, thresholds FROM budgets"


def _budget(row: asyncpg.Record) -> Budget:
    return Budget(row[0], row[1], row[2], row[3], tuple(row[4]))


async def budgets(connection: asyncpg.Connection) -> list[Budget]:
    return [_budget(row) for row in await connection.fetch(f"{_BUDGET} ORDER BY id")]


async def upsert_budget(
    connection: asyncpg.Connection,
    scope: str,
    scope_value: str,
    monthly_usd: Decimal,
    thresholds: Sequence[Decimal],
) -> Budget:
    """One budget per scope: setting it again changes its amount and thresholds."""
    row = await connection.fetchrow(
        """
        INSERT INTO budgets (scope, scope_value, monthly_usd, thresholds)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (scope, scope_value) DO UPDATE
           SET monthly_usd = EXCLUDED.monthly_usd, thresholds = EXCLUDED.thresholds,
               updated_at = now()
        RETURNING id, scope, scope_value, monthly_usd, thresholds
        """,
        scope,
        scope_value,
        monthly_usd,
        list(thresholds),
    )
    return _budget(row)


async def delete_budget(connection: asyncpg.Connection, budget_id: int) -> bool:
    status = await connection.execute("DELETE FROM budgets WHERE id = $1", budget_id)
    return bool(status.endswith(" 1"))


# --- the outbox -------------------------------------------------------------------------------


async def record_alert(
    connection: asyncpg.Connection,
    kind: str,
    dedup_key: str,
    payload: dict[str, object],
    targets: Sequence[str],
) -> int | None:
    """The alert's id when this call recorded it; None when it was recorded before."""
    async with connection.transaction():
        alert_id: int | None = await connection.fetchval(
            "INSERT INTO alerts (kind, dedup_key, payload) VALUES ($1, $2, $3::jsonb)"
            " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
            kind,
            dedup_key,
            json.dumps(payload, default=str),
        )
        if alert_id is not None and targets:
            await connection.executemany(
                "INSERT INTO alert_deliveries (alert_id, target) VALUES ($1, $2)",
                [(alert_id, target) for target in targets],
            )
    return alert_id


@dataclass(frozen=True)
class Delivery:
    alert_id: int
    target: str
    attempts: int
    kind: str
    payload: dict[str, object]


async def claim_deliveries(
    connection: asyncpg.Connection, limit: int, lease_seconds: float
) -> list[Delivery]:
    """Due deliveries, leased: their next attempt moves `lease_seconds` ahead, so a worker
    that dies mid-send leaves them to be tried again, and no other worker takes them now."""
    rows = await connection.fetch(
        """
        WITH due AS (
            SELECT alert_id, target FROM alert_deliveries
             WHERE status = 'pending' AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        UPDATE alert_deliveries d
           SET next_attempt_at = now() + make_interval(secs => $2), attempts = d.attempts + 1
          FROM due, alerts a
         WHERE d.alert_id = due.alert_id AND d.target = due.target AND a.id = d.alert_id
        RETURNING d.alert_id, d.target, d.attempts, a.kind, a.payload
        """,
        limit,
        lease_seconds,
    )
    return [Delivery(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


async def delivered(connection: asyncpg.Connection, alert_id: int, target: str) -> None:
    await connection.execute(
        "UPDATE alert_deliveries SET status = 'delivered', delivered_at = now(), last_error = NULL"
        " WHERE alert_id = $1 AND target = $2",
        alert_id,
        target,
    )


async def attempt_failed(
    connection: asyncpg.Connection,
    alert_id: int,
    target: str,
    error: str,
    retry_in_seconds: float | None,
) -> None:
    """A failed attempt: tried again after `retry_in_seconds`, or given up (None)."""
    await connection.execute(
        """
        UPDATE alert_deliveries
           SET last_error = $3,
               status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
               next_attempt_at = now() + make_interval(secs => coalesce($4::float8, 0))
         WHERE alert_id = $1 AND target = $2
        """,
        alert_id,
        target,
        error,
        retry_in_seconds,
    )


@dataclass(frozen=True)
class AlertState:
    id: int
    kind: str
    dedup_key: str
    payload: dict[str, object]
    created_at: datetime
    deliveries: list[dict[str, object]]


async def recent_alerts(connection: asyncpg.Connection, limit: int) -> list[AlertState]:
    rows = await connection.fetch(
        """
        SELECT a.id, a.kind, a.dedup_key, a.payload, a.created_at,
               coalesce(json_agg(json_build_object(
                   'target', d.target, 'status', d.status, 'attempts', d.attempts,
                   'next_attempt_at', d.next_attempt_at, 'last_error', d.last_error,
                   'delivered_at', d.delivered_at) ORDER BY d.target)
                 FILTER (WHERE d.alert_id IS NOT NULL), '[]')
          FROM alerts a LEFT JOIN alert_deliveries d ON d.alert_id = a.id
         GROUP BY a.id ORDER BY a.id DESC LIMIT $1
        """,
        limit,
    )
    return [AlertState(r[0], r[1], r[2], json.loads(r[3]), r[4], json.loads(r[5])) for r in rows]
