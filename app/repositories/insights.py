"""Answers read from the cross-tool view: spend grouped any way, active people per tool, daily
series for forecasts — each figure split into final and provisional by the coverage ledger.

A row of `ai_usage_by_person_day` is *final* when no source of its tool holds its (account,
day) as anything but final; the tools' sources come from the registry (`tool_sources`), so
this module names no upstream. A person's team on a day is the `person_teams` row with the
latest `effective_from` on or before it; people without one are `unassigned`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg

UNASSIGNED = "unassigned"
UNATTRIBUTED = "(unattributed)"
# What each grouping dimension is, in SQL over the rows below (whitelisted: never user text).
DIMENSIONS: Mapping[str, str] = {
    "tool": "u.tool",
    "platform": "u.platform",
    "account": "u.account",
    "team": "u.team",
    "person": "u.person",
    "day": "u.usage_date",
    "week": "date_trunc('week', u.usage_date)::date",
    "month": "date_trunc('month', u.usage_date)::date",
}
ROWS = f"""
    WITH tool_sources AS (SELECT * FROM unnest($3::text[], $4::text[]) AS ts(tool, source)),
    rows AS (
        SELECT v.*, coalesce(v.person_email, '{UNATTRIBUTED}') AS person,
               coalesce((SELECT t.team FROM person_teams t
                          WHERE t.email = v.person_email COLLATE "default"
                            AND t.effective_from <= v.usage_date
                          ORDER BY t.effective_from DESC LIMIT 1), '{UNASSIGNED}') AS team,
               NOT EXISTS (
                   SELECT 1 FROM coverage_days c JOIN tool_sources ts ON ts.source = c.source
                    WHERE ts.tool = v.tool AND c.account = v.account
                      AND c.usage_date = v.usage_date
                      AND (c.last_fetched_at IS NULL OR c.last_fetched_at < c.final_after)
               ) AS final
          FROM ai_usage_by_person_day v
         WHERE v.usage_date BETWEEN $1 AND $2
    )
"""


@dataclass(frozen=True)
class SpendRow:
    group: dict[str, str]
    billed_usd: Decimal
    billed_provisional_usd: Decimal
    estimated_usd: Decimal
    estimated_provisional_usd: Decimal
    consumption_usd: Decimal
    consumption_provisional_usd: Decimal
    people: int


def tool_arrays(tool_sources: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    pairs = [(tool, source) for tool, sources in tool_sources.items() for source in sources]
    return [tool for tool, _ in pairs], [source for _, source in pairs]


async def spend(
    connection: asyncpg.Connection,
    start: date,
    end: date,
    group_by: Sequence[str],
    tool_sources: Mapping[str, Sequence[str]],
    where: Mapping[str, str] | None = None,
) -> list[SpendRow]:
    """Money over [start, end] grouped by `group_by` (keys of `DIMENSIONS`), optionally only
    the rows whose dimensions equal `where`'s values."""
    keys = [DIMENSIONS[name] for name in group_by]
    select = ", ".join(f"({key})::text AS g{i}" for i, key in enumerate(keys))
    filters, arguments = [], []
    for name, value in (where or {}).items():
        arguments.append(value)
        filters.append(f"({DIMENSIONS[name]})::text = ${4 + len(arguments)}")
    money = """
        coalesce(sum(u.billed_cost_usd), 0),
        coalesce(sum(u.billed_cost_usd) FILTER (WHERE NOT u.final), 0),
        coalesce(sum(u.estimated_cost_usd), 0),
        coalesce(sum(u.estimated_cost_usd) FILTER (WHERE NOT u.final), 0),
        coalesce(sum(u.consumption_cost_usd), 0),
        coalesce(sum(u.consumption_cost_usd) FILTER (WHERE NOT u.final), 0),
        count(DISTINCT u.person)"""
    sql = (
        f"{ROWS} SELECT {select + ', ' if select else ''}{money} FROM rows u"
        f"{' WHERE ' + ' AND '.join(filters) if filters else ''}"
        f"{' GROUP BY ' + ', '.join(str(i + 1) for i in range(len(keys))) if keys else ''}"
        f"{' ORDER BY ' + ', '.join(str(i + 1) for i in range(len(keys))) if keys else ''}"
    )
    tools, sources = tool_arrays(tool_sources)
    records = await connection.fetch(sql, start, end, tools, sources, *arguments)
    width = len(keys)
    return [
        SpendRow({name: record[i] for i, name in enumerate(group_by)}, *record[width:])
        for record in records
    ]


@dataclass(frozen=True)
class AdoptionRow:
    period: date
    tool: str
    platform: str
    active_people: int


ACTIVE = """(coalesce(u.tokens, 0) > 0 OR coalesce(u.requests, 0) > 0
             OR coalesce(u.accepted_lines, 0) > 0 OR coalesce(u.sessions, 0) > 0
             OR u.billed_cost_usd > 0 OR u.estimated_cost_usd > 0
             OR coalesce(u.consumption_cost_usd, 0) > 0)"""


async def adoption(
    connection: asyncpg.Connection, start: date, end: date, period: str
) -> list[AdoptionRow]:
    """People with any activity, per period (`day` | `week`), tool and platform."""
    key = DIMENSIONS[period]
    rows = await connection.fetch(
        f"""
        SELECT {key} AS period, u.tool, u.platform, count(DISTINCT u.person_email)
          FROM ai_usage_by_person_day u
         WHERE u.usage_date BETWEEN $1 AND $2 AND u.person_email IS NOT NULL AND {ACTIVE}
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        start,
        end,
    )
    return [AdoptionRow(*row) for row in rows]
