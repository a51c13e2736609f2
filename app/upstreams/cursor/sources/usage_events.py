"""Cursor usage events (`POST /teams/filtered-usage-events`) → the spend columns of
`fact_cursor_daily_usage`, reconciled with `/teams/spend`.

Each UTC day is read as its own chain (a day is complete when its chain ends), its events
folded page by page into one tally per person and dropped — memory stays flat however many
events a day has. A day still in progress is read up to the last full hour (events are
aggregated hourly). Every day is recomputed whole and written atomically: events have no
upstream id, so nothing is kept to merge with.

After the days, this billing cycle's Σ charged cost per member (from the table, since
`subscriptionCycleStart`, plus today's events so far) is compared with `/teams/spend`; a
difference beyond CURSOR_SPEND_TOLERANCE_USD is a warning (events lag up to an hour), never a
failure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from app.ingestion.errors import UpstreamError
from app.ingestion.money import cents_to_usd
from app.orchestration.concurrency import each_at_most
from app.orchestration.sources.contract import Detail, SourceRun
from app.repositories import coverage as coverage_repo
from app.repositories.facts import charged_since, replace_cursor_spend_day
from app.upstreams.anthropic.sources.shared import direct_directory
from app.upstreams.cursor.client import CursorClient, day_start_ms
from app.upstreams.cursor.sources.daily_usage import CursorApiSource
from app.upstreams.cursor.spend import (
    DayTally,
    ReconciliationDetails,
    reconcile,
    spend_facts,
    tally_events,
)
from app.vocabulary import CoverageState

RECONCILIATION: Detail[ReconciliationDetails] = Detail("reconciliation")
MISSING_IDENTITY = "no email or service account"
DAYS_AT_ONCE = 3
FETCHED = (CoverageState.PROVISIONAL, CoverageState.FINAL)


class CursorSpendSource(CursorApiSource):
    name = "cursor_spend"

    async def ingest(self, run: SourceRun) -> None:
        client = self.client(run)
        until = last_full_hour_ms(datetime.now(UTC))
        empty: list[date] = []

        async def read_and_write(day: date) -> None:
            if day_start_ms(day) > until:
                run.warn(f"{day}: no full hour of it has passed yet; not read")
                return
            tally = await _read_day(run, client, day, until)
            if not tally:
                empty.append(day)  # written last, once we know whether other days had events
                return
            await _write(run, day, tally, suspect=False)

        # A day's pages come one after another; a few days read at once keep the 60-a-minute
        # budget busy while one chain waits on a page or on the event loop.
        await each_at_most(DAYS_AT_ONCE, run.days, read_and_write)
        suspect = run.shrink.suspect(empty=True, others_had_rows=len(run.fetched) > 0)
        for day in empty:
            await _write(run, day, {}, suspect=suspect)
        await _reconcile(run, client, until)


def last_full_hour_ms(now: datetime) -> int:
    """The last millisecond of the last hour that has fully passed."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return int(hour.timestamp() * 1000) - 1


async def _read_day(run: SourceRun, client: CursorClient, day: date, until: int) -> DayTally:
    tally: DayTally = {}
    async for page in run.pages(client.usage_events(day, run.stats, until_ms=until)):
        if page.restarted:
            tally = {}  # the day is read again from its first page
        if unusable := tally_events(page.items, tally):
            run.skipped(MISSING_IDENTITY, unusable)
        del page
    return tally


async def _write(run: SourceRun, day: date, tally: DayTally, *, suspect: bool) -> None:
    facts = spend_facts(day, tally, direct_directory(run))
    keep = run.shrink.keeps(suspect)
    async with run.pool.acquire() as connection:
        counts = await replace_cursor_spend_day(
            connection, run.account, day, facts, run.scope.run_id, keep
        )
    run.written(counts, day)


async def _reconcile(run: SourceRun, client: CursorClient, until: int) -> None:
    """This cycle's charged events against `/teams/spend`, into the source's details.

    `/teams/spend` is a snapshot up to now, so today's events (up to the last full hour) are
    read too when the run's window does not hold today; the difference means something only
    once every earlier day of the cycle is in the table, so until then today is not read and
    the totals are recorded without it."""
    today = datetime.now(UTC).date()
    try:
        cycle_start_ms, members = await client.spend(run.stats)
    except UpstreamError as exc:
        run.warn(f"spend reconciliation skipped: {exc}")
        return
    cycle_start = (
        None
        if cycle_start_ms is None
        else datetime.fromtimestamp(cycle_start_ms / 1000, tz=UTC).date()
    )
    first = cycle_start or min(run.days)
    async with run.pool.acquire() as connection:
        charged = await charged_since(connection, run.account, first)
        known = await coverage_repo.coverage(
            connection, [run.part], first, today - timedelta(days=1)
        )
    fetched = set(run.fetched) | {d.day for d in known if d.state in FETCHED}
    missing = sum(1 for d in known if d.day not in fetched)
    # Today's events only matter to a comparison; with days of the cycle missing there is
    # none, and a day of events is many requests at 60 a minute.
    read_today = first <= today and today not in run.fetched and day_start_ms(today) <= until
    if read_today and not missing:
        for identity, tally in (await _read_day(run, client, today, until)).items():
            charged[identity] = charged.get(identity, Decimal(0)) + cents_to_usd(
                tally.charged_cents
            )
    result = reconcile(cycle_start, members, charged, run.settings.cursor_spend_tolerance_usd)
    run.record(RECONCILIATION, result.as_details(cycle_days_not_ingested=missing))
    if missing:  # the table does not hold the whole cycle yet: nothing to conclude
        run.warn(
            f"spend reconciliation: {missing} day(s) of this billing cycle (since {first}) are"
            " not ingested yet; the totals are recorded, not compared"
        )
    elif result.members_beyond_tolerance:
        run.warn(
            f"spend reconciliation: {result.members_beyond_tolerance} member(s) differ from"
            f" /teams/spend by more than {run.settings.cursor_spend_tolerance_usd} USD this"
            f" cycle (largest {result.largest_difference_usd} USD); events lag up to an hour"
        )
