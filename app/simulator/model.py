"""Deterministic ground truth behind the simulator.

One model of an organisation (people, API keys, workspaces, prices, daily activity) is rendered
into every upstream's view, so the same usage shows up consistently across endpoints (Claude
Code traffic appears both in `usage_report/claude_code` and in the messages report under the
"Claude Code" workspace). Activity is a pure function of (seed, person, day, revision), so
10,000 people × 30 days are generated on demand, never held in memory.

The model also states what a correct pipeline must end up with (`expected_*`), computed from
its own knowledge of who did what, not by re-implementing the pipeline.
"""

from __future__ import annotations

import random
import threading
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

FIRST_NAMES = ("ana", "bo", "chen", "dara", "eli", "fay", "gus", "hana", "ivo", "jun", "kai", "lea")
LAST_NAMES = ("ito", "kim", "lund", "moss", "ng", "ortiz", "park", "quinn", "ruiz", "shah")
CLAUDE_CODE_WORKSPACE = "wrkspc_01ClaudeCode000000000000"
PROD_WORKSPACE = "wrkspc_01Production0000000000"
RESEARCH_WORKSPACE = "wrkspc_01Research000000000000"  # archived, still has history
CI_WORKSPACE = "wrkspc_01CiPipelines0000000000"  # Claude Code on a CI key, outside "Claude Code"
CI_KEY_ID = "apikey_01CiClaudeCode0000000000"
CI_KEY_NAME = "ci-claude-code"
SHARED_KEY_NAME = "shared-sandbox"  # two keys share this name: a key-name match is ambiguous
ORG_ID = "dc9f6c26-b22c-4831-8d01-0446bada88f1"
SERVICE_ACCOUNT_ID = "svac_01SimDeployBot000000000"  # OIDC federation: no key, no person
# Enterprise Analytics products (reference §8.4); `claude_code` is seat users' Claude Code.
OTHER_PRODUCTS = ("cowork", "office_agent", "claude_in_chrome", "claude_design", "claude-in-slack")
PRODUCTS = ("chat", "claude_code", *OTHER_PRODUCTS)
# Usage Enterprise Analytics cannot attribute to a surface: "other", and no product at all.
UNATTRIBUTED_PRODUCTS: tuple[str | None, ...] = ("other", None)
# Cursor usage events: a background-agent service account beside the people.
CURSOR_SERVICE_ACCOUNT = ("sa_01SimBackgroundAgent", "Background agent")
CURSOR_EVENT_MODELS = ("claude-4.5-sonnet", "gpt-5", "claude-4-sonnet-thinking", "composer-1")
REQUEST_UNITS = (Decimal("0.5"), Decimal(1), Decimal("1.4"), Decimal(2), Decimal(5))

MODELS = ("claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5")
MODEL_LABEL = {
    "claude-opus-4-6": "Claude Opus 4.6",
    "claude-sonnet-4-6": "Claude Sonnet 4.6",
    "claude-haiku-4-5": "Claude Haiku 4.5",
}
# cents per token, per model and token type (list prices, $/MTok ÷ 10,000)
PRICES: dict[str, dict[str, Decimal]] = {
    "claude-opus-4-6": {
        "uncached_input_tokens": Decimal("0.0005"),
        "output_tokens": Decimal("0.0025"),
        "cache_read_input_tokens": Decimal("0.00005"),
        "cache_creation.ephemeral_5m_input_tokens": Decimal("0.000625"),
        "cache_creation.ephemeral_1h_input_tokens": Decimal("0.001"),
    },
    "claude-sonnet-4-6": {
        "uncached_input_tokens": Decimal("0.0003"),
        "output_tokens": Decimal("0.0015"),
        "cache_read_input_tokens": Decimal("0.00003"),
        "cache_creation.ephemeral_5m_input_tokens": Decimal("0.000375"),
        "cache_creation.ephemeral_1h_input_tokens": Decimal("0.0006"),
    },
    "claude-haiku-4-5": {
        "uncached_input_tokens": Decimal("0.0001"),
        "output_tokens": Decimal("0.0005"),
        "cache_read_input_tokens": Decimal("0.00001"),
        "cache_creation.ephemeral_5m_input_tokens": Decimal("0.000125"),
        "cache_creation.ephemeral_1h_input_tokens": Decimal("0.0002"),
    },
}
TOKEN_TYPE_LABEL = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Cache Read Input Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "5m Cache Write Input Tokens",
    "cache_creation.ephemeral_1h_input_tokens": "1h Cache Write Input Tokens",
}
WEB_SEARCH_CENTS = Decimal(1)  # $10 per 1,000 searches
TERMINALS = ("vscode", "iTerm.app", "tmux", "cursor", "jetbrains")
ACTIVITY_TYPES = (
    "claude_chat_created",
    "claude_chat_updated",
    "claude_file_uploaded",
    "claude_project_created",
)


@dataclass(frozen=True)
class Person:
    index: int
    user_id: str
    email: str  # canonical (lower-case); some views show it in mixed case
    name: str
    cursor_user_id: int
    uses_cursor: bool
    claude_code_key: str | None  # key in the "Claude Code" workspace (API-billed Claude Code)
    claude_code_subscription: bool  # Claude Code via a subscription: not in the reports
    api_keys: tuple[str, ...]  # keys this person created for the API
    uses_claude_ai: bool

    def shown_email(self, view: str) -> str:
        """Mixed-case in some views, as real directories return them."""
        if view == "cursor" and self.index % 7 == 3:
            local, domain = self.email.split("@")
            return f"{local.title()}@{domain.upper()}"
        if view == "users" and self.index % 5 == 2:
            return self.email.upper()
        return self.email


@dataclass(frozen=True)
class Key:
    id: str
    name: str
    workspace_id: str | None
    creator_index: int | None  # None: legacy/system key, creator unknown
    created_at: str


@dataclass
class UsageRow:
    """One messages-report result (the fixed group_by set)."""

    api_key_id: str | None
    workspace_id: str | None
    model: str
    service_tier: str
    context_window: str
    inference_geo: str
    account_id: str | None = None  # OAuth: the person's own account
    service_account_id: str | None = None
    uncached_input_tokens: int = 0
    cache_creation_5m: int = 0
    cache_creation_1h: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    web_search_requests: int = 0

    def coordinates(self) -> tuple[str | None, ...]:
        return (
            self.api_key_id,
            self.workspace_id,
            self.model,
            self.service_tier,
            self.context_window,
            self.inference_geo,
            self.account_id,
            self.service_account_id,
        )

    def tokens_of(self, token_type: str) -> int:
        return {
            "uncached_input_tokens": self.uncached_input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation.ephemeral_5m_input_tokens": self.cache_creation_5m,
            "cache_creation.ephemeral_1h_input_tokens": self.cache_creation_1h,
        }[token_type]


@dataclass
class Totals:
    """What the analyst view must show for one (day, platform)."""

    uncached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    billed_cost_usd: Decimal = Decimal(0)
    estimated_cost_usd: Decimal = Decimal(0)
    sessions: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    commits: int = 0
    pull_requests: int = 0
    tool_accepted: int = 0
    tool_rejected: int = 0


class Views:
    """Rendered views of one truth (a day's rows, a feed window), each kind bounded to its
    few most recent keys so memory stays flat; cleared when the truth is restated."""

    def __init__(self) -> None:
        self._stores: dict[str, OrderedDict[Hashable, Any]] = {}
        # The simulator serves from its own thread while tests read the same truth.
        self._lock = threading.RLock()  # a build may read another view

    def get(self, kind: str, key: Hashable, keep: int, build: Callable[[], T]) -> T:
        with self._lock:
            store = self._stores.setdefault(kind, OrderedDict())
            if key in store:
                store.move_to_end(key)
                found: T = store[key]
                return found
            value = store[key] = build()
            while len(store) > keep:
                store.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._stores.clear()


@dataclass(eq=False)
class GroundTruth:
    seed: int = 7
    users: int = 40
    # (kind, day) -> revision; bumping one restates that view of that day for some people
    revisions: dict[tuple[str, date], int] = field(default_factory=dict)
    restated_people: dict[tuple[str, date], frozenset[int]] = field(default_factory=dict)
    # Cursor members not (or no longer) on the team: joining and leaving change the pages.
    hidden_cursor_members: set[int] = field(default_factory=set)
    # Days whose usage report matches the cost report's coordinates only loosely.
    inexact_cost_days: set[date] = field(default_factory=set)
    # People who left: gone from the users list, their keys inactive; their history stays.
    departed: set[int] = field(default_factory=set)
    # Keys renamed since creation: key id → the name the lists show now.
    renamed_keys: dict[str, str] = field(default_factory=dict)
    # People Enterprise Analytics shows as deleted (email null, "Deleted User").
    deleted_users: set[int] = field(default_factory=set)
    # Cursor's current billing cycle (first day, last day); None: this month up to today.
    cursor_cycle: tuple[date, date] | None = None
    # Cents /teams/spend adds to its first member (a drifted spend); the older response shape.
    cursor_spend_drift_cents: Decimal = Decimal(0)
    cursor_spend_old_shape: bool = False
    # Cursor usage events that arrived late for a day (late, still the day's).
    cursor_arrivals: dict[date, int] = field(default_factory=dict)
    views: Views = field(default_factory=Views, init=False, repr=False)

    # --- directory ----------------------------------------------------------------------

    @cached_property
    def people(self) -> list[Person]:
        return _people(self.seed, self.users)

    @cached_property
    def keys(self) -> list[Key]:
        return _keys(self.people)

    def key_by_id(self) -> dict[str, Key]:
        return {key.id: key for key in self.keys}

    def key_name(self, key: Key) -> str:
        return self.renamed_keys.get(key.id, key.name)

    def key_status(self, key: Key) -> str:
        if key.creator_index is not None and key.creator_index in self.departed:
            return "inactive"
        return "active"

    def current_users(self) -> list[Person]:
        return [person for person in self.people if person.index not in self.departed]

    def workspaces(self) -> list[dict[str, object]]:
        """As List Workspaces shows them (the Default Workspace is never listed)."""
        return [
            {"id": CLAUDE_CODE_WORKSPACE, "name": "Claude Code", "archived_at": None},
            {"id": PROD_WORKSPACE, "name": "Production", "archived_at": None},
            {"id": CI_WORKSPACE, "name": "CI Pipelines", "archived_at": None},
            {
                "id": RESEARCH_WORKSPACE,
                "name": "Research",
                "archived_at": "2026-03-01T00:00:00Z",
            },
        ]

    # --- randomness ----------------------------------------------------------------------

    def _rng(self, kind: str, index: int, day: date) -> random.Random:
        revision = 0
        if index in self.restated_people.get((kind, day), frozenset()):
            revision = self.revisions.get((kind, day), 0)
        return random.Random(_stream_seed(self.seed, kind, index, day, revision))

    def restate(self, kind: str, day: date, people: int) -> frozenset[int]:
        """Change `kind` values ('cursor', 'cursor_events', 'claude') of `people` active
        people on `day`."""
        chosen = frozenset(
            person.index
            for person in self.people
            if (kind in ("cursor", "cursor_events") and person.uses_cursor)
            or (kind == "claude" and (person.claude_code_key or person.api_keys))
        )
        chosen = frozenset(sorted(chosen)[:people])
        self.revisions[(kind, day)] = self.revisions.get((kind, day), 0) + 1
        self.restated_people[(kind, day)] = chosen
        self.views.clear()
        return chosen

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

    # --- Claude Code analytics ---

    def claude_code_records(self, day: date) -> list[dict[str, object]]:
        """All records of a day (user actors, the CI key's api actor, subscription users)."""
        # Rendered once and served page by page (callers must not mutate what they get).
        return self.views.get("claude_code", day, 4, lambda: self._render_claude_code_records(day))

    def _render_claude_code_records(self, day: date) -> list[dict[str, object]]:
        records: list[dict[str, object]] = []
        for person in self.people:
            if person.claude_code_key or person.claude_code_subscription:
                records.extend(self._person_claude_code(person, day))
        records.extend(self._ci_claude_code(day))
        return records

    def _person_claude_code(self, person: Person, day: date) -> list[dict[str, object]]:
        rng = self._rng("claude", person.index, day)
        if rng.random() > 0.7:
            return []
        subscription = person.claude_code_subscription
        # Some people work both locally and remotely: two separate rows.
        places = (False, True) if rng.random() < 0.2 else (False,)
        actor = {"type": "user_actor", "email_address": person.email}
        return [
            self._record(
                rng, day, actor, "subscription" if subscription else "api", remote, person.index
            )
            for remote in places
        ]

    def _ci_claude_code(self, day: date) -> list[dict[str, object]]:
        records = []
        rng = self._rng("claude", -1, day)
        if rng.random() < 0.8:
            actor = {
                "type": "api_actor",
                "api_key_name": self.renamed_keys.get(CI_KEY_ID, CI_KEY_NAME),
            }
            records.append(self._record(rng, day, actor, "api", False, -1))
        rng = self._rng("claude", -2, day)
        if rng.random() < 0.5:  # an api_actor whose key name is ambiguous
            actor = {"type": "api_actor", "api_key_name": SHARED_KEY_NAME}
            records.append(self._record(rng, day, actor, "api", False, -2))
        return records

    def _record(
        self,
        rng: random.Random,
        day: date,
        actor: dict[str, str],
        customer_type: str,
        remote: bool,
        index: int,
    ) -> dict[str, object]:
        models = rng.sample(MODELS[:2], k=rng.randint(1, 2))
        breakdown = []
        for model in models:
            tokens = {
                "input": rng.randint(1_000, 90_000),
                "output": rng.randint(500, 30_000),
                "cache_read": rng.randint(0, 400_000),
                "cache_creation": rng.randint(0, 40_000),
            }
            cents = (
                tokens["input"] * PRICES[model]["uncached_input_tokens"]
                + tokens["output"] * PRICES[model]["output_tokens"]
                + tokens["cache_read"] * PRICES[model]["cache_read_input_tokens"]
                + tokens["cache_creation"]
                * PRICES[model]["cache_creation.ephemeral_5m_input_tokens"]
            ).quantize(Decimal("0.01"))
            breakdown.append(
                {
                    "model": model,
                    "tokens": tokens,
                    "estimated_cost": {"currency": "USD", "amount": cents},
                }
            )
        tools = {
            name: {"accepted": rng.randint(0, 40), "rejected": rng.randint(0, 6)}
            for name in ("edit_tool", "multi_edit_tool", "write_tool")
            if rng.random() < 0.8
        }
        return {
            "date": f"{day.isoformat()}T00:00:00Z",
            "actor": actor,
            "organization_id": ORG_ID,
            "customer_type": customer_type,
            "subscription_type": "team" if customer_type == "subscription" else None,
            "terminal_type": "non-interactive" if index < 0 else rng.choice(TERMINALS),
            "is_remote": remote,
            "core_metrics": {
                "num_sessions": rng.randint(1, 9),
                "lines_of_code": {"added": rng.randint(0, 2500), "removed": rng.randint(0, 900)},
                "commits_by_claude_code": rng.randint(0, 12),
                "pull_requests_by_claude_code": rng.randint(0, 3),
            },
            "tool_actions": tools,
            "model_breakdown": breakdown,
        }

    # --- Messages usage and cost ------------------------------------------------------------------

    def usage_rows(self, day: date) -> list[UsageRow]:
        # A day's rows are rendered twice (usage, cost): keep the last few.
        return self.views.get("usage_rows", day, 4, lambda: _usage_rows(self, day))

    def cost_lines(self, day: date) -> list[dict[str, object]]:
        """Cost report results of a day (grouped by workspace and description)."""
        return self.views.get("cost_lines", day, 4, lambda: self._render_cost_lines(day))

    def _render_cost_lines(self, day: date) -> list[dict[str, object]]:
        amounts: dict[tuple[str | None, str, str, str, str, str], Decimal] = defaultdict(Decimal)
        searches: dict[str | None, int] = defaultdict(int)
        for row in self.usage_rows(day):
            if row.service_tier == "priority":  # Priority Tier is never in the cost report
                continue
            factor = Decimal("0.5") if row.service_tier == "batch" else Decimal(1)
            for token_type, price in PRICES[row.model].items():
                tokens = row.tokens_of(token_type)
                if tokens:
                    key = (
                        row.workspace_id,
                        row.model,
                        token_type,
                        row.service_tier,
                        row.context_window,
                        row.inference_geo,
                    )
                    amounts[key] += tokens * price * factor
            searches[row.workspace_id] += row.web_search_requests
        lines: list[dict[str, object]] = []
        for (workspace, model, token_type, tier, window, geo), cents in sorted(
            amounts.items(), key=lambda item: tuple(str(part) for part in item[0])
        ):
            lines.append(
                {
                    "currency": "USD",
                    "amount": cents_text(cents),
                    "workspace_id": workspace,
                    "description": f"{MODEL_LABEL[model]} Usage - {TOKEN_TYPE_LABEL[token_type]}",
                    "cost_type": "tokens",
                    "model": model,
                    "token_type": token_type,
                    "service_tier": tier,
                    "context_window": window,
                    "inference_geo": geo,
                }
            )
        for workspace, count in sorted(searches.items(), key=lambda item: str(item[0])):
            if count:
                lines.append(_non_token_line(workspace, "Web Search Usage", "web_search", count))
        rng = random.Random(f"{self.seed}:code-exec:{day.isoformat()}")
        if rng.random() < 0.5:  # code execution has no usage counterpart: a residual
            cents = Decimal(rng.randint(100, 5000)) / 100
            lines.append(
                _non_token_line(PROD_WORKSPACE, "Code Execution Usage", "code_execution", cents)
            )
        return lines

    # --- claude.ai ------------------------------------------------------------------------------

    def activities(self, day: date) -> list[dict[str, object]]:
        """Compliance feed events of a day, oldest first (the API serves newest first)."""
        return [self.render_activity(event) for event in self.activity_events(day)]

    def activity_events(self, day: date) -> list[ActivityEvent]:
        """The day's events, compact and oldest first (rendered per page by the server); about
        100 bytes an event, so a 30-day feed's worth is kept."""
        return self.views.get("activity", day, 64, lambda: self._generate_activity_events(day))

    def _generate_activity_events(self, day: date) -> list[ActivityEvent]:
        events: list[ActivityEvent] = []
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for person in self.people:
            if not person.uses_claude_ai:
                continue
            rng = self._rng("claude_ai", person.index, day)
            for n in range(rng.randint(0, 6)):
                second = rng.randint(0, 86_399)
                created = midnight + timedelta(seconds=second)
                events.append(
                    ActivityEvent(
                        created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        f"activity_{day:%Y%m%d}{second:05d}{person.index:05d}{n:02d}",
                        person.index,
                        rng.choice(ACTIVITY_TYPES),
                        created,
                    )
                )
        events.sort(key=lambda event: (event.created_at, event.id))
        return events

    def render_activity(self, event: ActivityEvent) -> dict[str, object]:
        person = self.people[event.person]
        return {
            "id": event.id,
            "created_at": event.created_at,
            "organization_id": "org_01Simulated",
            "type": event.type,
            "actor": {
                "type": "user_actor",
                "email_address": person.email,
                "user_id": person.user_id,
            },
        }

    def chat_usage(self, person: Person, day: date) -> tuple[dict[str, int], Decimal] | None:
        """Enterprise Analytics chat tokens and cost (cents) of one person-day."""
        if not person.uses_claude_ai:
            return None
        rng = self._rng("claude_ai_tokens", person.index, day)
        if rng.random() > 0.6:
            return None
        tokens = {
            "uncached_input_tokens": rng.randint(1_000, 200_000),
            "cache_read_input_tokens": rng.randint(0, 500_000),
            "output_tokens": rng.randint(500, 80_000),
            "requests": rng.randint(1, 120),
        }
        return tokens, _chat_cents(tokens)

    def product_usage(
        self, person: Person, day: date
    ) -> dict[str | None, tuple[dict[str, int], Decimal]]:
        """Enterprise Analytics tokens and cost (cents) of one person-day, per product: chat,
        Claude Code for seat (subscription) users — the same tokens Claude Code analytics
        reports, at their estimated cost — and the other products now and then."""
        products: dict[str | None, tuple[dict[str, int], Decimal]] = {}
        if chat := self.chat_usage(person, day):
            products["chat"] = chat
        if person.claude_code_subscription:
            tokens = {"uncached_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 0, "cache_creation_5m": 0, "requests": 0}  # fmt: skip
            cents = Decimal(0)
            for record in self._person_claude_code(person, day):
                breakdown = record["model_breakdown"]
                assert isinstance(breakdown, list)
                for entry in breakdown:
                    tokens["uncached_input_tokens"] += entry["tokens"]["input"]
                    tokens["output_tokens"] += entry["tokens"]["output"]
                    tokens["cache_read_input_tokens"] += entry["tokens"]["cache_read"]
                    tokens["cache_creation_5m"] += entry["tokens"]["cache_creation"]
                    tokens["requests"] += 1
                    cents += Decimal(entry["estimated_cost"]["amount"])
            if tokens["requests"]:
                products["claude_code"] = tokens, cents
        if person.uses_claude_ai:
            rng = self._rng("claude_ai_products", person.index, day)
            for product in (*OTHER_PRODUCTS, *UNATTRIBUTED_PRODUCTS):
                if rng.random() < 0.15:
                    used = {
                        "uncached_input_tokens": rng.randint(100, 40_000),
                        "cache_read_input_tokens": rng.randint(0, 90_000),
                        "output_tokens": rng.randint(50, 20_000),
                        "requests": rng.randint(1, 30),
                    }
                    products[product] = used, _chat_cents(used)
        return products

    def org_analytics_extra(self, day: date) -> dict[str | None, tuple[dict[str, int], Decimal]]:
        """What the organisation's Analytics reports hold beyond its seat users, per product:
        direct API-key traffic (no product) and automations (Claude Code), most days."""
        rng = self._rng("org_api_traffic", 0, day)
        extra: dict[str | None, tuple[dict[str, int], Decimal]] = {}
        for product in (None, "claude_code"):
            if rng.random() < 0.8:
                used = {
                    "uncached_input_tokens": rng.randint(1_000, 90_000),
                    "cache_read_input_tokens": rng.randint(0, 200_000),
                    "output_tokens": rng.randint(500, 40_000),
                    "requests": rng.randint(5, 200),
                }
                extra[product] = used, _chat_cents(used)
        return extra

    def expected_product_rows(
        self, start: date, end: date
    ) -> dict[tuple[date, str | None, str | None], tuple[int, int, Decimal]]:
        """Enterprise Analytics per (day, email — None for a deleted user never seen, product):
        (input + cache read + output tokens, requests, cost in USD), as the table must hold."""
        rows: dict[tuple[date, str | None, str | None], tuple[int, int, Decimal]] = {}
        for day in self.days(start, end):
            for person in self.people:
                for product, (tokens, cents) in self.product_usage(person, day).items():
                    total = (
                        tokens["uncached_input_tokens"]
                        + tokens["cache_read_input_tokens"]
                        + tokens["output_tokens"]
                        + tokens.get("cache_creation_5m", 0)
                    )
                    cost = Decimal(cents_text(cents)) / 100
                    rows[(day, person.email, product)] = (total, tokens["requests"], cost)
        return rows

    # --- expected results ---

    def days(self, start: date, end: date) -> Iterator[date]:
        day = start
        while day <= end:
            yield day
            day += timedelta(days=1)

    def expected_platform_totals(
        self, start: date, end: date, *, enterprise_analytics: bool = True
    ) -> dict[tuple[date, str], Totals]:
        """Per (day, platform), by the view's rule: tokens and billed cost from the reports
        (plus subscription Claude Code — counted once, whether Claude Code analytics or
        Enterprise Analytics reports it — and claude.ai), productivity from analytics."""
        totals: dict[tuple[date, str], Totals] = defaultdict(Totals)
        for day in self.days(start, end):
            for row in self.usage_rows(day):
                platform = self.expected_usage_platform(row)
                t = totals[(day, platform)]
                t.uncached_input_tokens += row.uncached_input_tokens
                t.cache_creation_input_tokens += row.cache_creation_5m + row.cache_creation_1h
                t.cache_read_input_tokens += row.cache_read_input_tokens
                t.output_tokens += row.output_tokens
            for platform, cost in self.expected_billed_cost(day).items():
                totals[(day, platform)].billed_cost_usd += cost
            if enterprise_analytics:
                for person in self.people:
                    if claude_code := self.product_usage(person, day).get("claude_code"):
                        cents = Decimal(cents_text(claude_code[1]))
                        totals[(day, "claude_code")].billed_cost_usd += cents / 100
            for record in self.claude_code_records(day):
                t = totals[(day, "claude_code")]
                metrics = record["core_metrics"]
                assert isinstance(metrics, dict)
                t.sessions += metrics["num_sessions"]
                t.lines_added += metrics["lines_of_code"]["added"]
                t.lines_removed += metrics["lines_of_code"]["removed"]
                t.commits += metrics["commits_by_claude_code"]
                t.pull_requests += metrics["pull_requests_by_claude_code"]
                tools = record["tool_actions"]
                assert isinstance(tools, dict)
                t.tool_accepted += sum(action["accepted"] for action in tools.values())
                t.tool_rejected += sum(action["rejected"] for action in tools.values())
                breakdown = record["model_breakdown"]
                assert isinstance(breakdown, list)
                for entry in breakdown:
                    t.estimated_cost_usd += Decimal(entry["estimated_cost"]["amount"]) / 100
                    if record["customer_type"] == "subscription":
                        t.uncached_input_tokens += entry["tokens"]["input"]
                        t.output_tokens += entry["tokens"]["output"]
                        t.cache_read_input_tokens += entry["tokens"]["cache_read"]
                        t.cache_creation_input_tokens += entry["tokens"]["cache_creation"]
        return dict(totals)

    def expected_claude_ai_totals(self, start: date, end: date) -> dict[tuple[date, str], Totals]:
        """Enterprise Analytics products other than Claude Code, per day."""
        totals: dict[tuple[date, str], Totals] = defaultdict(Totals)
        for day in self.days(start, end):
            for person in self.people:
                for product, (tokens, cents) in self.product_usage(person, day).items():
                    if product == "claude_code":
                        continue
                    t = totals[(day, "claude_ai")]
                    t.uncached_input_tokens += tokens["uncached_input_tokens"]
                    t.cache_read_input_tokens += tokens["cache_read_input_tokens"]
                    t.output_tokens += tokens["output_tokens"]
                    t.billed_cost_usd += Decimal(cents_text(cents)) / 100
        return dict(totals)

    def expected_usage_platform(self, row: UsageRow) -> str:
        """Claude Code workspace, or a key Claude Code analytics names (the CI key; the shared
        name matches two keys, so it stays `claude_api`)."""
        if row.workspace_id == CLAUDE_CODE_WORKSPACE or row.api_key_id == CI_KEY_ID:
            return "claude_code"
        return "claude_api"

    def expected_billed_cost(self, day: date) -> dict[str, Decimal]:
        """The day's cost report per platform: every line of the CI workspace is the CI key's,
        a Claude Code key's, so it is `claude_code` with the Claude Code workspace's."""
        billed: dict[str, Decimal] = defaultdict(Decimal)
        for workspace, cost in self.expected_cost_by_workspace(day).items():
            claude_code = workspace in (CLAUDE_CODE_WORKSPACE, CI_WORKSPACE)
            billed["claude_code" if claude_code else "claude_api"] += cost
        return dict(billed)

    def expected_cursor_rows(
        self, start: date, end: date
    ) -> dict[tuple[date, str], dict[str, object]]:
        return {
            (day, person.email): self.cursor_row(person, day)
            for day in self.days(start, end)
            for person in self.cursor_members()
        }

    def expected_cost_by_workspace(self, day: date) -> dict[str | None, Decimal]:
        totals: dict[str | None, Decimal] = defaultdict(Decimal)
        for line in self.cost_lines(day):
            workspace = line["workspace_id"]
            totals[workspace if isinstance(workspace, str) else None] += (
                Decimal(str(line["amount"])) / 100
            )
        return dict(totals)

    def expected_usage_attribution(
        self, key_id: str | None, account_id: str | None, service_account_id: str | None
    ) -> tuple[str | None, str]:
        """(email, method) of a messages-usage row: its OAuth account's person, a service
        account (nobody), or its key's creator."""
        if account_id is not None:
            person = next(p for p in self.people if p.user_id == account_id)
            return person.email, "account_id"
        if service_account_id is not None:
            return None, "service_account"
        owner = self.expected_key_owner(key_id)
        return owner, "key_creator" if owner else "unattributed"

    def expected_key_owner(self, key_id: str | None) -> str | None:
        """Email a key's usage belongs to, through its creator (None: unknowable)."""
        if key_id is None:
            return None
        key = self.key_by_id().get(key_id)
        if key is None or key.creator_index is None:
            return None
        return self.people[key.creator_index].email


def _chat_cents(tokens: dict[str, int]) -> Decimal:
    """claude.ai products at Sonnet's list prices (cents)."""
    return (
        tokens["uncached_input_tokens"] * Decimal("0.0003")
        + tokens["cache_read_input_tokens"] * Decimal("0.00003")
        + tokens["output_tokens"] * Decimal("0.0015")
    )


def cents_text(cents: Decimal) -> str:
    """Cost report style: a decimal string in cents with fractional digits."""
    return format(cents.quantize(Decimal("0.000001")).normalize(), "f")


def _non_token_line(
    workspace: str | None, description: str, cost_type: str, cents: Decimal | int
) -> dict[str, object]:
    return {
        "currency": "USD",
        "amount": cents_text(
            Decimal(cents) * (WEB_SEARCH_CENTS if cost_type == "web_search" else 1)
        ),
        "workspace_id": workspace,
        "description": description,
        "cost_type": cost_type,
        "model": None,
        "token_type": None,
        "service_tier": None,
        "context_window": None,
        "inference_geo": None,
    }


def _stream_seed(seed: int, kind: str, index: int, day: date, revision: int) -> int:
    """One integer per (seed, kind, person, day, revision), the same in every process.

    An integer seeds `random.Random` directly; a string seed is hashed with SHA-512 first,
    which was a third of the simulator's CPU (one generator per person and day)."""
    fields = (seed, zlib.crc32(kind.encode()), index + 2**31, day.toordinal(), revision)
    value = 0
    for part in fields:
        value = (value << 64) | part
    return value


def _people(seed: int, count: int) -> list[Person]:
    people = []
    for index in range(count):
        rng = random.Random(f"{seed}:person:{index}")
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        claude_code = rng.random() < 0.5
        developer = rng.random() < 0.35
        people.append(
            Person(
                index=index,
                user_id=f"user_01{seed:04d}{index:06d}",
                email=f"{first}.{last}.{index}@acme.dev",
                name=f"{first.title()} {last.title()}",
                cursor_user_id=40_000 + index,
                uses_cursor=rng.random() < 0.85,
                claude_code_key=f"apikey_01cc{index:06d}" if claude_code else None,
                claude_code_subscription=(not claude_code) and rng.random() < 0.15,
                api_keys=(f"apikey_01api{index:06d}",) if developer else (),
                uses_claude_ai=rng.random() < 0.4,
            )
        )
    return people


def _keys(people: list[Person]) -> list[Key]:
    count = len(people)
    keys = []
    for person in people:
        if person.claude_code_key:
            keys.append(
                Key(
                    person.claude_code_key,
                    f"claude_code_key_{person.email.split('@')[0]}",
                    CLAUDE_CODE_WORKSPACE,
                    person.index,
                    "2026-02-01T09:00:00Z",
                )
            )
        for key_id in person.api_keys:
            workspace = None if person.index % 4 == 0 else PROD_WORKSPACE
            creator = None if person.index % 6 == 1 else person.index  # legacy keys
            keys.append(
                Key(key_id, f"dev-{person.index}", workspace, creator, "2025-11-12T10:00:00Z")
            )
    keys.append(Key(CI_KEY_ID, CI_KEY_NAME, CI_WORKSPACE, 0, "2025-10-01T08:00:00Z"))
    keys.append(
        Key("apikey_01shared0a", SHARED_KEY_NAME, PROD_WORKSPACE, 0, "2025-10-02T08:00:00Z")
    )
    keys.append(
        Key("apikey_01shared0b", SHARED_KEY_NAME, None, min(1, count - 1), "2025-10-03T08:00:00Z")
    )
    return keys


def _usage_rows(truth: GroundTruth, day: date) -> list[UsageRow]:
    rows: dict[tuple[object, ...], UsageRow] = {}

    def row_for(
        key: str | None,
        workspace: str | None,
        model: str,
        tier: str,
        window: str,
        geo: str,
        *,
        account: str | None = None,
        service_account: str | None = None,
    ) -> UsageRow:
        coordinates = (key, workspace, model, tier, window, geo, account, service_account)
        if coordinates not in rows:
            rows[coordinates] = UsageRow(*coordinates)
        return rows[coordinates]

    # Claude Code traffic billed through the API: the same tokens as the analytics records.
    for person in truth.people:
        if not person.claude_code_key:
            continue
        for record in truth._person_claude_code(person, day):
            _add_breakdown(
                record,
                lambda model, p=person: row_for(
                    p.claude_code_key, CLAUDE_CODE_WORKSPACE, model, "standard", "0-200k", "global"
                ),
            )
    for record in truth._ci_claude_code(day):
        actor = record["actor"]
        assert isinstance(actor, dict)
        ci = actor["api_key_name"] != SHARED_KEY_NAME
        key_id, workspace = (
            (CI_KEY_ID, CI_WORKSPACE) if ci else ("apikey_01shared0a", PROD_WORKSPACE)
        )
        _add_breakdown(
            record,
            lambda model, k=key_id, w=workspace: row_for(
                k, w, model, "standard", "0-200k", "global"
            ),
        )
    # Plain API usage by developers' keys, and Console usage with no key.
    key_index = truth.key_by_id()
    for person in truth.people:
        for key_id in person.api_keys:
            rng = truth._rng("claude", person.index, day)
            rng.random()  # decorrelate from the Claude Code draw
            for _ in range(rng.randint(0, 3)):
                row = row_for(
                    key_id,
                    key_index[key_id].workspace_id,
                    rng.choice(MODELS),
                    rng.choice(("standard", "standard", "batch", "priority")),
                    rng.choice(("0-200k", "0-200k", "200k-1M")),
                    rng.choice(("global", "us")),
                )
                row.uncached_input_tokens += rng.randint(100, 50_000)
                row.output_tokens += rng.randint(50, 20_000)
                row.cache_read_input_tokens += rng.randint(0, 100_000)
                row.cache_creation_1h += rng.randint(0, 5_000)
                row.cache_creation_5m += rng.randint(0, 5_000)
                row.web_search_requests += rng.choice((0, 0, 0, rng.randint(1, 30)))
    _account_rows(truth, day, row_for)
    rng = random.Random(f"{truth.seed}:console:{day.isoformat()}")
    if rng.random() < 0.6:
        row = row_for(None, None, "claude-sonnet-4-6", "standard", "0-200k", "global")
        row.uncached_input_tokens += rng.randint(100, 9_000)
        row.output_tokens += rng.randint(50, 4_000)
    return sorted(rows.values(), key=lambda row: tuple(str(part) for part in row.coordinates()))


def _account_rows(truth: GroundTruth, day: date, row_for: Callable[..., UsageRow]) -> None:
    """OAuth traffic: no key, the person's own account (some people, some days), and a
    service account authenticated through OIDC federation."""
    for person in truth.people:
        if person.index % 8 == 5:
            rng = truth._rng("oauth", person.index, day)
            if rng.random() < 0.6:
                row = row_for(None, None, "claude-sonnet-4-6", "standard", "0-200k", "global",
                              account=person.user_id)  # fmt: skip
                row.uncached_input_tokens += rng.randint(100, 30_000)
                row.output_tokens += rng.randint(50, 9_000)
    rng = truth._rng("service_account", -3, day)
    if rng.random() < 0.8:
        row = row_for(None, PROD_WORKSPACE, "claude-haiku-4-5", "batch", "0-200k", "us",
                      service_account=SERVICE_ACCOUNT_ID)  # fmt: skip
        row.uncached_input_tokens += rng.randint(1_000, 80_000)
        row.output_tokens += rng.randint(500, 20_000)


def _add_breakdown(record: dict[str, object], row_for_model: object) -> None:
    breakdown = record["model_breakdown"]
    assert isinstance(breakdown, list) and callable(row_for_model)
    for entry in breakdown:
        row = row_for_model(entry["model"])
        tokens = entry["tokens"]
        row.uncached_input_tokens += tokens["input"]
        row.output_tokens += tokens["output"]
        row.cache_read_input_tokens += tokens["cache_read"]
        row.cache_creation_5m += tokens["cache_creation"]


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


class ActivityEvent(NamedTuple):
    created_at: str
    id: str
    person: int
    type: str
    at: datetime
