"""The weekly digest: spend by tool and team against the week before, the top movers, budgets
at risk, idle seats and coverage gaps — as JSON and as Markdown, for GET /digest and the
webhooks (scheduled by DIGEST_CRON, recorded once per week in the outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal

import asyncpg

from app.config import Settings
from app.orchestration import insights
from app.orchestration.accounts import configured_parts
from app.repositories import alerts as alerts_repo
from app.repositories import coverage as coverage_repo
from app.repositories.insights import SpendRow
from app.vocabulary import CoverageState

DIGEST = "digest"
TOP_MOVERS = 5


@dataclass(frozen=True)
class Change:
    name: str
    billed_usd: Decimal
    previous_usd: Decimal

    @property
    def change_usd(self) -> Decimal:
        return self.billed_usd - self.previous_usd


@dataclass(frozen=True)
class Digest:
    week: str  # ISO week, e.g. 2026-W32
    start: date
    end: date
    provisional_usd: Decimal  # of the week's billed spend, what may still move
    by_tool: list[Change]
    by_team: list[Change]
    top_movers: list[Change]
    budgets_at_risk: list[dict[str, str]]
    idle_seats: int
    reclaimable_usd: Decimal
    coverage_gaps: list[dict[str, str]]

    def as_json(self) -> dict[str, object]:
        body = asdict(self)
        for key in ("by_tool", "by_team", "top_movers"):
            for change, source in zip(body[key], getattr(self, key), strict=True):
                change["change_usd"] = source.change_usd
        return body

    def markdown(self) -> str:
        lines = [f"# AI usage, week {self.week} ({self.start} – {self.end})", ""]
        tables = (("Spend by tool", self.by_tool), ("Spend by team", self.by_team),
                  ("Top movers", self.top_movers))  # fmt: skip
        for title, changes in tables:
            lines += [f"## {title}", "", "| | billed USD | week before | change |"]
            lines.append("|---|---|---|---|")
            for c in changes:
                row = f"{c.billed_usd:.2f} | {c.previous_usd:.2f} | {c.change_usd:+.2f}"
                lines.append(f"| {c.name} | {row} |")
            lines.append("")
        lines.append(
            f"Of this week's billed spend, {self.provisional_usd:.2f} USD rests on days the"
            " upstreams may still revise."
        )
        lines += ["", "## Budgets at risk", ""]
        risks = [
            f"- {b['scope']} {b['scope_value']}: projected {b['projected_usd']} of"
            f" {b['monthly_usd']} USD in {b['month']}"
            for b in self.budgets_at_risk
        ]
        lines += risks or ["- none"]
        lines += ["", "## Seats", ""]
        lines.append(
            f"- {self.idle_seats} idle seats, {self.reclaimable_usd:.2f} USD a month to reclaim"
        )
        lines += ["", "## Coverage gaps", ""]
        gaps = [f"- {g['account']}/{g['source']} {g['day']}: {g['state']}"
                for g in self.coverage_gaps]  # fmt: skip
        return "\n".join(lines + (gaps or ["- none"])) + "\n"


def week_of(day: date) -> tuple[str, date, date]:
    year, week, _ = day.isocalendar()
    start = day - timedelta(days=day.weekday())
    return f"{year}-W{week:02d}", start, start + timedelta(days=6)


def _changes(now: Sequence[SpendRow], before: Sequence[SpendRow], key: str) -> list[Change]:
    previous = {row.group[key]: row.billed_usd for row in before}
    names = sorted({row.group[key] for row in now} | set(previous))
    current = {row.group[key]: row.billed_usd for row in now}
    return [Change(n, current.get(n, Decimal(0)), previous.get(n, Decimal(0))) for n in names]


async def build_digest(pool: asyncpg.Pool, settings: Settings, day: date) -> Digest:
    """The digest of the ISO week holding `day`."""
    week, start, end = week_of(day)
    before = (start - timedelta(days=7), start - timedelta(days=1))
    spend = {
        (key, label): await insights.spend(pool, *window, [key])
        for key in ("tool", "team", "person")
        for label, window in (("now", (start, end)), ("before", before))
    }
    movers = _changes(spend[("person", "now")], spend[("person", "before")], "person")
    movers = sorted(movers, key=lambda c: abs(c.change_usd), reverse=True)[:TOP_MOVERS]
    seats = await insights.seats(pool, settings, end)
    return Digest(
        week, start, end,
        sum((row.billed_provisional_usd for row in spend[("tool", "now")]), Decimal(0)),
        _changes(spend[("tool", "now")], spend[("tool", "before")], "tool"),
        _changes(spend[("team", "now")], spend[("team", "before")], "team"),
        movers, await _budgets_at_risk(pool, end),
        sum(1 for s in seats.seats if s.status == "idle"), seats.reclaimable_usd(),
        await _gaps(pool, settings, start, end),
    )  # fmt: skip


async def _budgets_at_risk(pool: asyncpg.Pool, as_of: date) -> list[dict[str, str]]:
    async with pool.acquire() as connection:
        listed = await alerts_repo.budgets(connection)
    risky = []
    for budget in listed:
        outlook = await insights.forecast(
            pool, budget.scope, budget.scope_value, as_of, as_of, budget.monthly_usd
        )
        first = min(budget.thresholds, default=Decimal(1))
        if outlook.projected >= budget.monthly_usd * first:
            risky.append({
                "scope": budget.scope, "scope_value": budget.scope_value,
                "month": f"{outlook.month:%Y-%m}", "projected_usd": str(outlook.projected),
                "monthly_usd": str(budget.monthly_usd),
            })  # fmt: skip
    return risky


async def _gaps(
    pool: asyncpg.Pool, settings: Settings, start: date, end: date
) -> list[dict[str, str]]:
    parts = configured_parts(settings, None)
    async with pool.acquire() as connection:
        days = await coverage_repo.coverage(connection, parts, start, end)
    return [
        {"account": d.account, "source": d.source, "day": str(d.day), "state": d.state.value}
        for d in days
        if d.state in (CoverageState.MISSING, CoverageState.FAILED)
    ]


async def record_digest(pool: asyncpg.Pool, settings: Settings, today: date) -> bool:
    """The last complete week's digest, recorded once for the webhooks (every replica's
    scheduler may fire; one records it)."""
    digest = await build_digest(pool, settings, today - timedelta(days=7))
    payload = {**digest.as_json(), "markdown": digest.markdown()}
    targets = [target.name for target in settings.webhooks()]
    async with pool.acquire() as connection:
        alert = await alerts_repo.record_alert(
            connection, DIGEST, f"digest:{digest.week}", payload, targets
        )
    return alert is not None
