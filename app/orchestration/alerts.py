"""Budget alerts: evaluated after every run, recorded once in the outbox, delivered to the
webhooks by a worker that retries with backoff and never holds up ingestion.

Each (budget, month, threshold) is recorded at most once (the outbox's `dedup_key`), so two
replicas finishing runs together, a re-run, or a late revision of an earlier day cannot alert
twice. An alert says whether the crossing rests on provisional days (the month's final days
alone stay below the threshold). A budget the month-end forecast crosses, not yet crossed, is
a `budget_projected` warning — once per (budget, month).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import httpx

from app import metrics
from app.config import Settings
from app.config_answers import WebhookFormat, WebhookTarget
from app.logs import get_logger
from app.orchestration import insights
from app.orchestration.run_request import utc_today
from app.processing.forecast import forecast_month
from app.repositories import alerts as alerts_repo
from app.repositories.alerts import Budget, Delivery
from app.repositories.database import DATABASE_ERRORS

log = get_logger(__name__)
BUDGET_THRESHOLD = "budget_threshold"
BUDGET_PROJECTED = "budget_projected"
DELIVERY_BATCH = 20


def _crossed_on(daily: Mapping[date, Decimal], month: date, limit: Decimal) -> date | None:
    total = Decimal(0)
    for day in sorted(d for d in daily if d >= month):
        total += daily[day]
        if total >= limit:
            return day
    return None


async def _evaluate(
    pool: asyncpg.Pool, budget: Budget, month: date, today: date, targets: list[str]
) -> int:
    """Record what `budget` has to say about `month`; how many alerts were new."""
    through = today - timedelta(days=1)
    spent = await insights.month_spend(pool, budget.scope, budget.scope_value, month, through)
    billed, provisional, daily = spent.billed_usd, spent.provisional_usd, spent.daily
    scope = {"budget_id": budget.id, "scope": budget.scope, "scope_value": budget.scope_value,
             "month": f"{month:%Y-%m}", "monthly_usd": str(budget.monthly_usd)}  # fmt: skip
    recorded = 0
    async with pool.acquire() as connection:
        for threshold in sorted(budget.thresholds):
            limit = budget.monthly_usd * threshold
            if billed < limit:
                continue
            payload = {
                **scope, "threshold": str(threshold), "limit_usd": str(limit),
                "billed_usd": str(billed), "provisional_usd": str(provisional),
                "crossed_on": str(_crossed_on(daily, month, limit)),
                "rests_on_provisional": billed - provisional < limit,
            }  # fmt: skip
            key = f"budget:{budget.id}:{month:%Y-%m}:{threshold}"
            if await alerts_repo.record_alert(connection, BUDGET_THRESHOLD, key, payload, targets):
                recorded += 1
        if month.replace(day=1) == today.replace(day=1) and billed < budget.monthly_usd:
            outlook = forecast_month(daily, month, through, budget.monthly_usd)
            if outlook.projected >= budget.monthly_usd:
                payload = {
                    **scope, "billed_usd": str(billed), "projected_usd": str(outlook.projected),
                    "low_usd": str(outlook.low), "high_usd": str(outlook.high),
                    "exhausted_on": str(outlook.exhausted_on),
                }  # fmt: skip
                key = f"budget:{budget.id}:{month:%Y-%m}:projected"
                if await alerts_repo.record_alert(
                    connection, BUDGET_PROJECTED, key, payload, targets
                ):
                    recorded += 1
    return recorded


async def evaluate_budgets(
    pool: asyncpg.Pool, settings: Settings, today: date | None = None
) -> int:
    """Every budget over this month and the last (a late day can still cross it); the
    alerts recorded now. Bookkeeping, not data: a database error is logged, not raised."""
    today = today or utc_today()
    this_month = today.replace(day=1)
    months = [(this_month - timedelta(days=1)).replace(day=1), this_month]
    targets = [target.name for target in settings.webhooks()]
    recorded = 0
    try:
        async with pool.acquire() as connection:
            listed = await alerts_repo.budgets(connection)
        for budget in listed:
            for month in months:
                recorded += await _evaluate(pool, budget, month, today, targets)
    except DATABASE_ERRORS as exc:
        log.warning("budgets not evaluated", error=type(exc).__name__)
    except Exception:  # bookkeeping after a run: it must never fail the run it follows
        log.exception("budgets not evaluated")
    if recorded:
        log.info("budget alerts recorded", alerts=recorded)
    return recorded


# --- delivery -----------------------------------------------------------------------------------


def _text(kind: str, payload: Mapping[str, object]) -> str:
    if kind == BUDGET_THRESHOLD:
        share = Decimal(str(payload["threshold"])) * 100
        note = " (resting on provisional days)" if payload.get("rests_on_provisional") else ""
        return (
            f"Budget {payload['scope']} {payload['scope_value'] or ''} for {payload['month']}:"
            f" {share:.0f} % reached on {payload['crossed_on']} — {payload['billed_usd']} USD"
            f" of {payload['monthly_usd']} USD{note}."
        )
    if kind == BUDGET_PROJECTED:
        return (
            f"Budget {payload['scope']} {payload['scope_value'] or ''} for {payload['month']}:"
            f" projected {payload['projected_usd']} USD (range {payload['low_usd']}–"
            f"{payload['high_usd']}) of {payload['monthly_usd']} USD; spent by"
            f" {payload['exhausted_on']} at this pace."
        )
    return str(payload.get("markdown") or payload)


def render(delivery: Delivery, target: WebhookTarget) -> dict[str, object]:
    """The body a target takes: Slack's `{"text"}`, or the alert itself as JSON."""
    if target.format is WebhookFormat.SLACK:
        return {"text": _text(delivery.kind, delivery.payload)}
    return {"kind": delivery.kind, "alert_id": delivery.alert_id, "payload": delivery.payload}


async def _send(
    http: httpx.AsyncClient, target: WebhookTarget, body: dict[str, object], seconds: float
) -> str | None:
    """None when the receiver took it (2xx); else what went wrong (never the URL)."""
    try:
        response = await http.post(target.url.get_secret_value(), json=body, timeout=seconds)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None if response.is_success else f"HTTP {response.status_code}"


async def deliver_due(pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings) -> int:
    """Send the deliveries that are due; how many were delivered."""
    targets = {target.name: target for target in settings.webhooks()}
    lease = settings.webhook_timeout_seconds * 3
    async with pool.acquire() as connection:
        due = await alerts_repo.claim_deliveries(connection, DELIVERY_BATCH, lease)
    sent = 0
    for delivery in due:
        target = targets.get(delivery.target)
        error: str | None = "the target is no longer configured"
        if target is not None:
            body = render(delivery, target)
            error = await _send(http, target, body, settings.webhook_timeout_seconds)
        async with pool.acquire() as connection:
            if error is None:
                await alerts_repo.delivered(connection, delivery.alert_id, delivery.target)
                metrics.ALERT_DELIVERIES.labels("delivered").inc()
                sent += 1
                continue
            retry = None
            if target is not None and delivery.attempts < settings.alert_delivery_attempts:
                retry = settings.alert_retry_base_seconds * 2 ** (delivery.attempts - 1)
            await alerts_repo.attempt_failed(
                connection, delivery.alert_id, delivery.target, error, retry
            )
        metrics.ALERT_DELIVERIES.labels("retried" if retry is not None else "failed").inc()
        log.warning("alert delivery failed", target=delivery.target, error=error,
                    attempt=delivery.attempts, retry_in_seconds=retry)  # fmt: skip
    return sent


async def deliver_forever(
    pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings, poll_seconds: float = 2.0
) -> None:
    """The delivery worker of a service process: its own task, so a slow receiver never holds
    up a run."""
    if not settings.webhooks():
        return  # nowhere to deliver: nothing to poll for
    while True:
        try:
            await deliver_due(pool, http, settings)
        except DATABASE_ERRORS as exc:
            log.warning("alert delivery paused", error=type(exc).__name__)
        await asyncio.sleep(poll_seconds)
