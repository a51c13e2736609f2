"""The dashboard at a year of a 10,000-person company: every page's server time (p50, p95)
and payload, over rollups rebuilt from generated facts.

    python -m bench.dashboard [PEOPLE] [DAYS] [REQUESTS] [--output FILE]
                                              # default 10000 365 30 docs/performance.md

Facts are generated inside PostgreSQL (Cursor ~70 % of person-days, Claude Code ~40 %, Copilot
~30 %, 50 teams, every day final), a day after the other as runs write them, the rollups rebuilt month by month (timed), then each page
is asked REQUESTS times in-process over ASGI (no network; the time is the service's own).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from app.cli_demo import demo_overrides
from app.config import Settings, load_settings
from app.main import create_app
from app.orchestration.rollups import after_writes, rebuild_seats, refresh_stale
from app.orchestration.run_request import utc_today
from app.repositories.database import create_pool
from bench.common import scratch_database

TOKEN = "bench-dashboard-token-0123456789abcdef"
FACTS = """
    INSERT INTO fact_cursor_daily_usage (account, usage_date, email, is_active, in_daily_usage,
        attribution_method,
        attribution_confidence, on_demand_cost_usd, included_cost_usd, accepted_lines_added,
        input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, billable_requests)
    SELECT 'default', d, 'person' || p || '@acme.dev', true, true, 'upstream_email', 1.0,
           round((random() * 3)::numeric, 4), 0.40, (random() * 300)::int, 1000, 300, 0, 0, 5
      FROM generate_series($2::date, $3::date, '1 day') d, generate_series(1, $1) p
     WHERE random() < 0.7 ORDER BY d;
    INSERT INTO fact_claude_daily_usage (account, usage_date, platform, source, user_email,
        actor_name, customer_type, attribution_method, attribution_confidence, cost_usd,
        cost_kind, output_tokens, sessions, lines_added)
    SELECT 'default', d, 'claude_code', 'claude_code_analytics', 'person' || p || '@acme.dev',
           'person' || p || '@acme.dev', 'subscription', 'upstream_email', 1.0, round((random() * 5)::numeric, 6),
           'estimated', 2000, 3, 40
      FROM generate_series($2::date, $3::date, '1 day') d, generate_series(1, $1) p
     WHERE random() < 0.4 ORDER BY d;
    INSERT INTO fact_copilot_daily_usage (account, usage_date, source, user_id, email,
        attribution_method, attribution_confidence, user_initiated_interaction_count,
        code_generation_activity_count, code_acceptance_activity_count, loc_suggested_to_add_sum,
        loc_suggested_to_delete_sum, loc_added_sum, loc_deleted_sum, cost_basis, ai_credits_used)
    SELECT 'default', d, 'copilot_usage', p, 'person' || p || '@acme.dev', 'saml_identity', 0.95,
           5, 4, 3, 20, 1, 15, 1, 'consumption', round((random() * 40)::numeric, 2)
      FROM generate_series($2::date, $3::date, '1 day') d, generate_series(1, $1) p
     WHERE random() < 0.3 ORDER BY d;
    INSERT INTO coverage_days (account, source, usage_date, last_fetched_at, final_after, last_rows)
    SELECT 'default', s, d, now(), now() - interval '1 day', 1
      FROM unnest(ARRAY['cursor', 'cursor_spend', 'claude_code', 'claude_usage', 'claude_cost',
                        'copilot_usage', 'copilot_billing']) s,
           generate_series($2::date, $3::date, '1 day') d
     WHERE $1 > 0;
    INSERT INTO directory_users (account, user_id, email)
    SELECT 'default', 'user_' || p, 'person' || p || '@acme.dev'
      FROM generate_series(1, $1) p WHERE $2::date <= $3::date;
    INSERT INTO copilot_seats (account, user_id, created_at, user_login, email,
        attribution_method, attribution_confidence, first_seen_at, last_seen_at, plan_type)
    SELECT 'default', p, $2::date, 'login' || p, 'person' || p || '@acme.dev', 'saml_identity',
           0.95, now(), now(), 'business'
      FROM generate_series(1, $1) p WHERE p % 10 < 8 AND $2::date <= $3::date;
    INSERT INTO person_teams (email, team, effective_from)
    SELECT 'person' || p || '@acme.dev', 'team-' || (p % 50), '2020-01-01'
      FROM generate_series(1, $1) p
     WHERE $2::date <= $3::date
"""


async def _generate(dsn: str, people: int, first: date, last: date) -> tuple[int, float]:
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for statement in FACTS.split(";"):
            await connection.execute(statement, people, first, last)
        await connection.execute("ANALYZE")
        rows = await connection.fetchval(
            "SELECT (SELECT count(*) FROM fact_cursor_daily_usage)"
            " + (SELECT count(*) FROM fact_claude_daily_usage)"
            " + (SELECT count(*) FROM fact_copilot_daily_usage)"
        )
        await connection.execute(
            "INSERT INTO rollup_stale_months (month) SELECT DISTINCT"
            " date_trunc('month', usage_date)::date FROM coverage_days ON CONFLICT DO NOTHING"
        )
        return rows, time.perf_counter() - started
    finally:
        await connection.close()


def overrides_settings(dsn: str) -> Settings:
    """The simulator's keys (nothing is fetched): every source is configured, as in
    production."""
    overrides = demo_overrides("http://127.0.0.1:9") | {
        "embedded_database": False,
        "api_reads_open": False,
    }
    return load_settings(**overrides, database_url=dsn, api_token=TOKEN, worker_process=False)


async def _pages(
    dsn: str, person: str, month: str, requests: int
) -> list[tuple[str, float, float, int]]:
    app = create_app(overrides_settings(dsn))
    paths = [f"/ui/?month={month}", f"/ui/people?month={month}",
             f"/ui/people?month={month}&sort=person&order=asc&q=person12&page=2",
             f"/ui/people/{person}?month={month}", "/ui/seats", f"/ui/coverage?month={month}",
             "/ui/runs", "/ui/alerts"]  # fmt: skip
    found = []
    async with LifespanManager(app, startup_timeout=120):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://b", headers=headers
        ) as client:
            for path in paths:
                (await client.get(path)).raise_for_status()  # warm
                times, size = [], 0
                for _ in range(requests):
                    started = time.perf_counter()
                    response = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    size = len(response.content)
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                found.append((path, statistics.median(times), p95, size))
    return found


MARK = "<!-- bench:dashboard -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def _report(text: str, output: Path) -> None:
    """Print the section and put it into `output` (replacing the one it held)."""
    sys.stdout.write(text)
    current = output.read_text() if output.exists() else ""
    before = current.split(MARK, 1)[0].rstrip("\n")
    output.write_text(f"{before}\n\n{MARK}\n{text}")


async def main(people: int, days: int, requests: int, output: Path = DOC) -> None:
    last = utc_today() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    async with scratch_database() as dsn:
        rows, generated = await _generate(dsn, people, first, last)
        lines = [
            f"{people:,} people × {days} days: {rows:,} fact rows generated in {generated:.1f} s."
        ]
        settings = load_settings(database_url=dsn)
        pool = await create_pool(settings, dsn)
        started = time.perf_counter()
        months = await refresh_stale(pool)
        took = time.perf_counter() - started
        started = time.perf_counter()  # a daily run's part: its last three days, re-read
        await after_writes(
            pool, overrides_settings(dsn), [last - timedelta(days=n) for n in range(3)]
        )
        run_took = time.perf_counter() - started
        started = time.perf_counter()
        await rebuild_seats(pool, overrides_settings(dsn))  # as after each part of a run
        seats_took = time.perf_counter() - started
        await pool.close()
        lines.append(
            f"Rollups rebuilt: {len(months)} months in {took:.1f} s ({took / len(months):.1f} s a"
            f" month, one refresher); the seats' use of the last {settings.idle_seat_days} days in"
            f" {seats_took:.1f} s. After a daily run's part (its last three days marked): days,"
            f" months and seats rebuilt in {run_took:.1f} s."
        )
        month = (last.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")  # a whole month
        results = await _pages(dsn, "person7@acme.dev", month, requests)
    table = [f"Pages of {month}, {requests} requests each after one to warm, in-process over"
             " ASGI (the service's own time, no network):", "",
             "| page | p50 ms | p95 ms | payload KB |", "|---|---:|---:|---:|"]  # fmt: skip
    table += [f"| `{path}` | {p50:.0f} | {p95:.0f} | {size / 1024:.0f} |"
              for path, p50, p95, size in results]  # fmt: skip
    _report(
        f"## The dashboard at {people:,} people × {days} days\n\n"
        f"Measured by `python -m bench.dashboard {people} {days} {requests}` on"
        f" {datetime.now(UTC):%Y-%m-%d} (2 CPUs).\n\n"
        + " ".join(lines)
        + "\n\n"
        + "\n".join(table)
        + "\n",
        output,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("people", type=int, nargs="?", default=10_000)
    parser.add_argument("days", type=int, nargs="?", default=365)
    parser.add_argument("requests", type=int, nargs="?", default=30)
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args()
    asyncio.run(main(args.people, args.days, args.requests, args.output))
