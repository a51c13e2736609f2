"""The Cursor Admin API's view of the simulated organisation: daily-usage rows, members, usage
events, this cycle's spend, and what a correct pipeline ends up with from them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from app.simulator.world import (
    CURSOR_EVENT_MODELS,
    CURSOR_SERVICE_ACCOUNT,
    REQUEST_UNITS,
    Person,
    TruthBase,
    _stream_seed,
)


class CursorEvent(NamedTuple):
    """One Cursor usage event, compact (a 10,000-person day holds tens of thousands)."""

    timestamp: int  # epoch ms
    person: int  # index; negative: the service account
    model: str
    on_demand: bool  # billed beyond the plan (else included in it)
    chargeable: bool  # the `isChargeable` flag as sent (true on some included events too)
    kind: str | None  # None: an older event without `kind`
    discount: Decimal | None  # discountPercentOff
    headless: bool
    max_mode: bool
    request_units: Decimal
    tokens: tuple[int, int, int, int] | None  # input, output, cache write, cache read
    model_cents: Decimal
    token_fee_cents: Decimal | None
    charged_cents: Decimal


def _cursor_event(
    rng: random.Random, midnight: int, person: int, *, headless: bool = False
) -> CursorEvent:
    token_based = rng.random() < 0.7
    tokens = None
    model_cents = Decimal(0)
    fee = None
    discount = None
    if token_based:
        tokens = (
            rng.randint(100, 20_000), rng.randint(50, 8_000),
            rng.randint(0, 9_000), rng.randint(0, 50_000),
        )  # fmt: skip
        model_cents = Decimal(rng.randint(100, 5_000_000)) / 100_000  # fractional cents
        if rng.random() < 0.5:  # a third-party model: Cursor's Token Rate on top
            fee = Decimal(rng.randint(1, 300)) / 100
        discount = rng.choice((None, None, None, Decimal(10), Decimal("12.5")))
        # The documented formula: the discount applies to the model cost, not to the fee.
        charged = model_cents * (1 - (discount or Decimal(0)) / 100) + (fee or 0)
    else:
        charged = Decimal(rng.choice((0, 4, 8)))
    on_demand = rng.random() < 0.4
    kind: str | None = "Usage-based" if on_demand else "Included in Business"
    chargeable = on_demand or rng.random() < 0.25  # captured: included events flagged true
    if rng.random() < 0.1:  # an older event without `kind`: the flag is all there is
        kind, chargeable = None, on_demand
    return CursorEvent(
        timestamp=midnight + rng.randint(0, 86_399_999),
        person=person,
        model=rng.choice(CURSOR_EVENT_MODELS),
        on_demand=on_demand,
        chargeable=chargeable,
        kind=kind,
        discount=discount if token_based else None,
        headless=headless or rng.random() < 0.1,
        max_mode=rng.random() < 0.3,
        request_units=rng.choice(REQUEST_UNITS),
        tokens=tokens,
        model_cents=model_cents,
        token_fee_cents=fee,
        charged_cents=charged,
    )


class CursorTruth(TruthBase):
    """The organisation as Cursor's Admin API reports it."""

    # --- Cursor ----------------------------------------------------------------------------

    def cursor_row(self, person: Person, day: date) -> dict[str, object]:
        rng = self._rng("cursor", person.index, day)
        active = rng.random() < 0.75
        counters = {
            "totalLinesAdded": rng.randint(10, 2000),
            "totalLinesDeleted": rng.randint(0, 600),
            "acceptedLinesAdded": rng.randint(0, 900),
            "acceptedLinesDeleted": rng.randint(0, 200),
            "totalApplies": rng.randint(0, 60),
            "totalAccepts": rng.randint(0, 50),
            "totalRejects": rng.randint(0, 10),
            "totalTabsShown": rng.randint(0, 400),
            "totalTabsAccepted": rng.randint(0, 200),
            "composerRequests": rng.randint(0, 10),
            "chatRequests": rng.randint(0, 30),
            "agentRequests": rng.randint(0, 60),
            "cmdkUsages": rng.randint(0, 12),
            "subscriptionIncludedReqs": rng.randint(0, 80),
            "apiKeyReqs": rng.randint(0, 3),
            "usageBasedReqs": rng.randint(0, 8),
            "bugbotUsages": rng.randint(0, 2),
        }
        if not active:
            counters = dict.fromkeys(counters, 0)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return {
            "userId": person.cursor_user_id,
            "day": day.isoformat(),
            "date": int(midnight.timestamp() * 1000),
            "email": person.shown_email("cursor"),
            "isActive": active,
            **counters,
            "mostUsedModel": rng.choice(("claude-4.5-sonnet", "gpt-5", "auto")) if active else None,
            "applyMostUsedExtension": rng.choice((".py", ".ts", ".go")) if active else None,
            "tabMostUsedExtension": rng.choice((".py", ".tsx", ".rs")) if active else None,
            "clientVersion": f"1.7.{rng.randint(0, 40)}" if active else None,
        }

    def cursor_members(self) -> list[Person]:
        return [
            person
            for person in self.people
            if person.uses_cursor and person.index not in self.hidden_cursor_members
        ]

    def cursor_member_joins(self, index: int | None = None) -> int:
        """A hidden member joins the team (the first hidden one by default)."""
        joining = min(self.hidden_cursor_members) if index is None else index
        self.hidden_cursor_members.discard(joining)
        return joining

    def cursor_member_leaves(self, index: int | None = None) -> int:
        """A member leaves the team (the first listed by default)."""
        leaving = self.cursor_members()[0].index if index is None else index
        self.hidden_cursor_members.add(leaving)
        return leaving

    # --- Cursor usage events and spend ---------------------------------------------------------

    def cursor_events(self, day: date) -> list[CursorEvent]:
        """A day's usage events, newest first: the same people and days as daily usage (an
        active person-day has events; removed members' past events remain), plus the service
        account's headless ones."""
        return self.views.get("cursor_events", day, 8, lambda: self._cursor_events(day))

    def _cursor_events(self, day: date) -> list[CursorEvent]:
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        events: list[CursorEvent] = []
        for person in self.people:
            # Active as daily usage first said (a restatement of the counters, kind "cursor",
            # leaves events alone; kind "cursor_events" restates them).
            first_said = random.Random(_stream_seed(self.seed, "cursor", person.index, day, 0))
            if not person.uses_cursor or first_said.random() >= 0.75:
                continue
            rng = self._rng("cursor_events", person.index, day)
            for _ in range(rng.randint(1, 5)):
                events.append(_cursor_event(rng, midnight, person.index))
        rng = self._rng("cursor_events", -5, day)
        if rng.random() < 0.7:
            for _ in range(rng.randint(1, 6)):
                events.append(_cursor_event(rng, midnight, -5, headless=True))
        rng = self._rng("cursor_arrivals", 0, day)
        for _ in range(self.cursor_arrivals.get(day, 0)):
            events.append(_cursor_event(rng, midnight, 0))
        events.sort(key=lambda event: event.timestamp, reverse=True)
        return events

    def cursor_events_arrive(self, day: date, count: int) -> None:
        """`count` more events of `day` arrive (person 0's), as while a day is being read."""
        self.cursor_arrivals[day] = self.cursor_arrivals.get(day, 0) + count
        self.views.clear()

    def render_cursor_event(self, event: CursorEvent) -> dict[str, object]:
        rendered: dict[str, object] = {
            "timestamp": str(event.timestamp),
            "model": event.model,
            "maxMode": event.max_mode,
            "requestsCosts": event.request_units,
            "isTokenBasedCall": event.tokens is not None,
            "isChargeable": event.chargeable,
            "isHeadless": event.headless,
            "chargedCents": event.charged_cents,
        }
        if event.kind is not None:
            rendered["kind"] = event.kind
        if event.person < 0:
            rendered["serviceAccountId"], rendered["serviceAccountName"] = CURSOR_SERVICE_ACCOUNT
        else:
            rendered["userEmail"] = self.people[event.person].shown_email("cursor")
            rendered["conversationId"] = f"conv-{event.timestamp}-{event.person}"
        if event.tokens is not None:
            inputs, outputs, writes, reads = event.tokens
            usage: dict[str, object] = {
                "inputTokens": inputs, "outputTokens": outputs, "cacheWriteTokens": writes,
                "cacheReadTokens": reads, "totalCents": event.model_cents,
            }  # fmt: skip
            if event.discount is not None:
                usage["discountPercentOff"] = event.discount
            rendered["tokenUsage"] = usage
        if event.token_fee_cents is not None:
            rendered["cursorTokenFee"] = event.token_fee_cents
        return rendered

    def cursor_cycle_days(self, today: date) -> tuple[date, date]:
        return self.cursor_cycle or (today.replace(day=1), today)

    def cursor_spend(self, now: datetime) -> tuple[date, dict[int, tuple[Decimal, Decimal]]]:
        """This cycle's (on-demand, overall) cents per current member, from the events up to
        the last full hour before `now` (spend is aggregated hourly, like the events)."""
        first, last = self.cursor_cycle_days(now.date())
        hour = now.replace(minute=0, second=0, microsecond=0)
        until = int(hour.timestamp() * 1000) - 1

        def build() -> dict[int, tuple[Decimal, Decimal]]:
            spend = {person.index: (Decimal(0), Decimal(0)) for person in self.cursor_members()}
            for day in self.days(first, last):
                for event in self.cursor_events(day):
                    if event.person in spend and event.timestamp <= until:
                        on_demand, overall = spend[event.person]
                        extra = event.charged_cents if event.on_demand else Decimal(0)
                        spend[event.person] = (on_demand + extra, overall + event.charged_cents)
            return spend

        # Computed once per hour and cycle, not once per page of the answer.
        key = (first, last, until, frozenset(self.hidden_cursor_members))
        return first, self.views.get("cursor_spend", key, 1, build)

    def expected_cursor_spend(
        self, start: date, end: date
    ) -> dict[tuple[date, str], dict[str, object]]:
        """What the spend columns must hold per (day, identity)."""
        expected: dict[tuple[date, str], dict[str, Any]] = {}
        for day in self.days(start, end):
            for event in self.cursor_events(day):
                if event.person < 0:
                    identity = f"service-account:{CURSOR_SERVICE_ACCOUNT[0]}".lower()
                else:
                    identity = self.people[event.person].email
                row = expected.setdefault(
                    (day, identity),
                    {"charged_cost_usd": Decimal(0), "on_demand_cost_usd": Decimal(0),
                     "included_cost_usd": Decimal(0), "model_cost_usd": Decimal(0),
                     "discount_usd": Decimal(0), "derived_cost_events": 0,
                     "token_fee_usd": Decimal(0), "billable_requests": Decimal(0),
                     "usage_events": 0, "chargeable_events": 0, "headless_events": 0,
                     "input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 0,
                     "cache_read_tokens": 0},
                )  # fmt: skip
                row["charged_cost_usd"] += event.charged_cents / 100
                part = "on_demand_cost_usd" if event.on_demand else "included_cost_usd"
                row[part] += event.charged_cents / 100
                discount = event.model_cents * (event.discount or Decimal(0)) / 100
                row["model_cost_usd"] += (event.model_cents - discount) / 100
                row["discount_usd"] += discount / 100
                row["token_fee_usd"] += (event.token_fee_cents or Decimal(0)) / 100
                row["billable_requests"] += event.request_units
                row["usage_events"] += 1
                row["chargeable_events"] += event.chargeable
                row["headless_events"] += event.headless
                if event.tokens is not None:
                    for name, value in zip(
                        ("input_tokens", "output_tokens", "cache_write_tokens",
                         "cache_read_tokens"),
                        event.tokens, strict=True,
                    ):  # fmt: skip
                        row[name] += value
        return expected

    def expected_cursor_rows(
        self, start: date, end: date
    ) -> dict[tuple[date, str], dict[str, object]]:
        return {
            (day, person.email): self.cursor_row(person, day)
            for day in self.days(start, end)
            for person in self.cursor_members()
        }
