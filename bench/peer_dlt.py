"""Against a peer: the same rows loaded by dlt (merge write disposition, same primary keys)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import date
from typing import Any

from app.upstreams.anthropic.facts import ClaudeFact
from app.upstreams.cursor.facts import CursorFact
from bench.write_path import claude_rows, cursor_rows


def _cursor_dicts(rows: dict[date, list[CursorFact]]) -> list[dict[str, Any]]:
    return [
        {name: getattr(fact, name) for name in fact.__slots__}  # type: ignore[attr-defined]
        for facts in rows.values()
        for fact in facts
    ]


def _claude_dicts(rows: dict[date, list[ClaudeFact]]) -> list[dict[str, Any]]:
    out = []
    for facts in rows.values():
        for fact in facts:
            row = {name: getattr(fact, name) for name in fact.__slots__}  # type: ignore[attr-defined]
            # dlt needs non-null key columns: the grain as one deterministic key, as ours.
            row["grain_key"] = str(uuid.uuid5(uuid.NAMESPACE_OID, repr(fact.key())))
            out.append(row)
    return out


def _with_password(dsn: str) -> str:
    """dlt insists on a password; the benchmark servers use trust auth, so any will do."""
    scheme, rest = dsn.split("://", 1)
    userinfo, _, host = rest.partition("@")
    return dsn if ":" in userinfo else f"{scheme}://{userinfo}:unused@{host}"


def _load_twice(
    dsn: str, table: str, rows: list[dict[str, Any]], key: list[str]
) -> tuple[float, float]:
    """A first load into a fresh dataset, then the same rows again (all unchanged)."""
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name=f"aup_bench_{table}_{uuid.uuid4().hex[:8]}",
        destination=dlt.destinations.postgres(credentials=_with_password(dsn)),
        dataset_name=f"dlt_bench_{uuid.uuid4().hex[:8]}",
    )
    seconds = []
    for _ in range(2):
        resource = dlt.resource(rows, name=table, write_disposition="merge", primary_key=key)
        started = time.perf_counter()
        pipeline.run(resource)
        seconds.append(time.perf_counter() - started)
    return seconds[0], seconds[1]


async def measure(
    dsn: str, claude_count: int, cursor_count: int, repetitions: int
) -> dict[str, Any]:
    """dlt's first load and unchanged reload, in seconds, median of `repetitions` (ours are
    measured by write_path on the same rows)."""
    results: dict[str, Any] = {}
    for table, rows, key in (
        ("fact_cursor_daily_usage", _cursor_dicts(cursor_rows(cursor_count)), ["usage_date", "email"]),
        ("fact_claude_daily_usage", _claude_dicts(claude_rows(claude_count)), ["usage_date", "grain_key"]),
    ):  # fmt: skip
        firsts, unchanged = [], []
        for _ in range(repetitions):
            first, again = await asyncio.to_thread(_load_twice, dsn, table, rows, key)
            firsts.append(first)
            unchanged.append(again)
        results[table] = {
            "rows": len(rows),
            "first_load": statistics.median(firsts),
            "unchanged": statistics.median(unchanged),
        }
    return results
