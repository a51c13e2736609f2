"""The organisation behind the simulator: its people, keys, workspaces and prices, the truth's
state and directory (`TruthBase`), and the rendering helpers every upstream's view shares.
`app.simulator.model.GroundTruth` builds every upstream's view on it."""

from __future__ import annotations

import random
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from app.simulator.model import GroundTruth

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
class TruthBase:
    """The truth's state (seed, size, restatements, faults of the directory) and its directory."""

    seed: int = 7
    users: int = 40
    # Where people's addresses are (an account of several: its own domain) …
    email_domain: str = "acme.dev"
    # … and people (by index) whose address is given: the same person in several accounts.
    emails: dict[int, str] = field(default_factory=dict)
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
        return _people(self.seed, self.users, self.email_domain, self.emails)

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

    def days(self, start: date, end: date) -> Iterator[date]:
        day = start
        while day <= end:
            yield day
            day += timedelta(days=1)

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


def _people(seed: int, count: int, domain: str, emails: dict[int, str]) -> list[Person]:
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
                email=emails.get(index, f"{first}.{last}.{index}@{domain}"),
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


def _key_rows(truth: GroundTruth, day: date, row_for: Callable[..., UsageRow]) -> None:
    """Plain API usage by developers' keys."""
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
    _key_rows(truth, day, row_for)
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


class ActivityEvent(NamedTuple):
    created_at: str
    id: str
    person: int
    type: str
    at: datetime
