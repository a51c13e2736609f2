"""Copilot's sources: each day's per-user usage report → `fact_copilot_daily_usage`, and each
day's AI-credit billing lines → `fact_copilot_billing_daily`; both resolve logins through one
directory per run, whose loading also records the seat list (`copilot_seats`).

A day's report is published "within two full UTC days": until then GitHub answers 204, an empty
body or 404, and the day is left for a later run (a warning, not a failure, not zeros). A day
older than that without a report is a failed day, named in the source's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from app.config import Settings
from app.ingestion.errors import UpstreamError
from app.ingestion.pagination import Page
from app.orchestration.sources.contract import After, Detail, Per, Shared, Source, SourceRun
from app.orchestration.sources.writer import write_day
from app.repositories import people
from app.repositories import snapshots as snapshots_repo
from app.repositories.day_reads import day_values
from app.upstreams.copilot.client import (
    COPILOT_CLIENT,
    CopilotClient,
    CopilotEndpoint,
    GraphQLError,
    NoReport,
    scope_of,
)
from app.upstreams.copilot.facts import (
    BILLING_TABLE,
    NO_USER_ID,
    SEATS_TABLE,
    USAGE_TABLE,
    CopilotLabel,
    billing_facts,
    seat_rows,
    to_row,
    usage_facts,
)
from app.upstreams.copilot.identity import (
    LOGIN_SERVICE,
    LoginDirectory,
    LoginEvidence,
    mapping_evidence,
    public_evidence,
    saml_evidence,
    verified_evidence,
)
from app.upstreams.copilot.models import BillingItem, Seat

# Reports are ready "within two full UTC days" of the day's end: a day this recent without
# one is not published yet.
REPORT_LAG = timedelta(days=2)
SEATS: Detail[dict[str, int]] = Detail("seats")
IDENTITIES: Detail[dict[str, int]] = Detail("identities")
T = TypeVar("T")


def _configured(settings: Settings) -> bool:
    return settings.github_token is not None and scope_of(settings) is not None


async def _one_page(items: list[T]) -> AsyncIterator[Page[T]]:
    yield Page(items, 1)


# --- the run's directory (and the seat list) ------------------------------------------------


@dataclass
class CopilotContext:
    directory: LoginDirectory
    usage_days: dict[date, asyncio.Event] = field(default_factory=dict)
    usage_finished: asyncio.Event = field(default_factory=asyncio.Event)
    written: set[date] = field(default_factory=set)

    async def usage_settled(self, day: date) -> bool:
        """Whether the run's usage source wrote `day` (False: not published yet, or failed),
        once it is done with it."""
        waiter = self.usage_days.setdefault(day, asyncio.Event())
        done = asyncio.ensure_future(self.usage_finished.wait())
        settled = asyncio.ensure_future(waiter.wait())
        try:
            await asyncio.wait((settled, done), return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            settled.cancel()
        return day in self.written

    def usage_done(self, day: date, *, written: bool) -> None:
        if written:
            self.written.add(day)
        self.usage_days.setdefault(day, asyncio.Event()).set()


CONTEXT: Shared[asyncio.Task[CopilotContext]] = Shared("copilot_context")


async def copilot_context(run: SourceRun) -> CopilotContext:
    task: asyncio.Task[CopilotContext] = run.shared(
        CONTEXT, lambda first: asyncio.create_task(_load_context(first))
    )
    return await asyncio.shield(task)


async def _load_context(run: SourceRun) -> CopilotContext:
    """The operator's mapping, SAML/SCIM identities, verified-domain addresses and the seat
    list, fetched together. Identities GitHub will not give (no SSO, no permission) are a
    warning: logins they would resolve stay unresolved, never dropped."""
    client = run.client(COPILOT_CLIENT)
    async with run.pool.acquire() as connection:
        mapped = await people.logins(connection, LOGIN_SERVICE)
    saml, verified, seats = await asyncio.gather(
        _optional(run, "SAML identities", client.saml_identities(run.stats)),
        _optional(run, "verified-domain emails", client.verified_emails(run.stats)),
        _seat_list(run, client),
    )
    evidence: dict[str, list[LoginEvidence]] = {
        "login_mapping": mapping_evidence((item.login, item.email) for item in mapped),
        "saml_identity": saml_evidence(saml),
        "verified_domain_email": verified_evidence(verified),
        "public_email": public_evidence(seats[0] if seats else []),
    }
    run.record(IDENTITIES, {method: len(found) for method, found in evidence.items()})
    directory = LoginDirectory(
        run.settings.confidences, [item for found in evidence.values() for item in found]
    )
    if seats is not None:
        await _record_seats(run, directory, *seats)
    return CopilotContext(directory)


async def _optional(run: SourceRun, what: str, query: Awaitable[list[T]]) -> list[T]:
    try:
        return await query
    except (GraphQLError, UpstreamError) as exc:
        run.warn(f"copilot {what} not read, logins they would resolve stay unresolved: {exc}")
        return []


async def _seat_list(run: SourceRun, client: CopilotClient) -> tuple[list[Seat], bool] | None:
    """Every seat and whether the list was read whole (its count as stated); None when GitHub
    refused it (a warning: the seat table stays as it was)."""
    seats: list[Seat] = []
    whole = True
    try:
        async for page in run.pages(client.seats(run.stats)):
            seats.extend(page.items)
            if page.warning is not None:
                run.warn(f"copilot seats: {page.warning}; no seat marked removed")
                whole = False
    except UpstreamError as exc:
        run.warn(f"copilot seats not read, the seat table stays as it was: {exc}")
        return None
    return seats, whole


async def _record_seats(
    run: SourceRun, directory: LoginDirectory, seats: list[Seat], whole: bool
) -> None:
    rows = [to_row(row) for row in seat_rows(seats, directory)]
    async with run.pool.acquire() as connection:
        current = await snapshots_repo.held(connection, SEATS_TABLE, run.account)
        if not rows and current and run.shrink.keeps(True):
            run.warn(f"copilot seats: the list came back empty; {current} seats kept as they were")
            return
        counts = await snapshots_repo.write_snapshot(
            connection, SEATS_TABLE, run.account, rows, run.scope.run_id, complete=whole
        )
    run.record(
        SEATS,
        {"listed": len(rows), "added": counts.added, "changed": counts.changed,
         "removed": counts.removed},
    )  # fmt: skip


# --- usage ----------------------------------------------------------------------------------


class CopilotUsageSource(Source):
    name = CopilotLabel.USAGE.value
    table = USAGE_TABLE.name
    # Published within two days; re-read for a day more (DevLake re-reads four trailing days).
    revision_horizon = timedelta(days=3)

    def enabled(self, settings: Settings) -> bool:
        return _configured(settings)

    async def ingest(self, run: SourceRun) -> None:
        client = run.client(COPILOT_CLIENT)
        context = await copilot_context(run)
        missing: list[str] = []
        had_rows = False
        try:
            for day in run.days:
                try:
                    records = await client.user_day_report(day, run.stats)
                except NoReport as exc:
                    if _recent(day):
                        run.warn(f"copilot {day}: not published yet ({exc.why}); read later")
                    else:
                        missing.append(f"{day} ({exc.why})")
                    context.usage_done(day, written=False)
                    continue
                async for page in run.pages(_one_page(records)):
                    facts, skipped = usage_facts(day, page.items, context.directory)
                if skipped:
                    run.skipped(NO_USER_ID, skipped)
                suspect = run.shrink.suspect(empty=not facts, others_had_rows=had_rows)
                had_rows = had_rows or bool(facts)
                await write_day(
                    run, USAGE_TABLE, CopilotLabel.USAGE, day, facts, to_row, suspect=suspect
                )
                context.usage_done(day, written=True)
        finally:
            context.usage_finished.set()
        if missing:
            raise UpstreamError(
                f"copilot {CopilotEndpoint.USERS_REPORT}: no report for {len(missing)} day(s)"
                f" older than GitHub's two-day lag: {', '.join(missing)}",
                upstream="copilot",
                endpoint=CopilotEndpoint.USERS_REPORT,
            )


def _recent(day: date) -> bool:
    """Whether GitHub may still be preparing the day's report."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + REPORT_LAG > (
        datetime.now(UTC)
    )


# --- billing --------------------------------------------------------------------------------


class CopilotBillingSource(Source):
    name = CopilotLabel.BILLING.value
    table = BILLING_TABLE.name
    # A day's lines are those of its users once its report is out. Whether GitHub restates a
    # day when the month's invoice closes is not documented; re-reading 35 days of per-user
    # lines at every heal would cost more than a token's hourly budget in a large organisation,
    # so REVISION_HORIZON_DAYS='{"copilot_billing": 35}' is the operator's choice (docs/copilot.md).
    revision_horizon = timedelta(days=3)
    # A day's per-user lines are asked for the users its usage report shows.
    after = (After(CopilotLabel.USAGE.value, Per.DAY),)

    def enabled(self, settings: Settings) -> bool:
        return _configured(settings) and settings.copilot_billing_enabled

    async def ingest(self, run: SourceRun) -> None:
        client = run.client(COPILOT_CLIENT)
        context = await copilot_context(run)
        # Days the run's usage source reads (a heal gives each source its own): billing waits
        # for those; any other day's users are the stored ones.
        read_by_usage = set(run.scope.days_of.get(CopilotLabel.USAGE.value, ()))
        for day in run.days:
            if day in read_by_usage and not await context.usage_settled(day):
                run.warn(f"copilot billing of {day} waits for its usage report; read later")
                continue
            users = await _credit_users(run, day)
            whole = await self._lines(run, client, day, None)
            per_user = await asyncio.gather(
                *(self._user_lines(run, client, day, user_id, login) for user_id, login in users)
            )
            facts = billing_facts(day, whole, per_user, context.directory)
            await write_day(run, BILLING_TABLE, CopilotLabel.BILLING, day, facts, to_row)

    @staticmethod
    async def _lines(
        run: SourceRun, client: CopilotClient, day: date, login: str | None
    ) -> list[BillingItem]:
        items = await client.billing_usage(day, login, run.stats)
        async for _ in run.pages(_one_page(items)):
            pass  # counted (and a cancelled run stops here)
        return items

    async def _user_lines(
        self, run: SourceRun, client: CopilotClient, day: date, user_id: int, login: str
    ) -> tuple[int, str, Sequence[BillingItem]]:
        return user_id, login, await self._lines(run, client, day, login)


async def _credit_users(run: SourceRun, day: date) -> list[tuple[int, str]]:
    """Users of the day's stored usage who consumed AI credits (or whose report predates the
    figure): the only ones whose per-user lines can hold anything."""
    async with run.pool.acquire() as connection:
        rows = await day_values(
            connection, USAGE_TABLE, run.account, day, ("user_id", "user_login", "ai_credits_used")
        )
    return [
        (user_id, login)
        for user_id, login, credits in rows
        if isinstance(user_id, int)
        and isinstance(login, str)
        and (credits is None or (isinstance(credits, Decimal) and credits > 0))
    ]
