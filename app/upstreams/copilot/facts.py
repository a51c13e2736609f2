"""Copilot's rows as written to `fact_copilot_daily_usage`, `fact_copilot_billing_daily` and
`copilot_seats` (column names are the tables'), from GitHub's records (pure functions).

Money says what it is: `ai_credits_used` is the report's consumption signal in AI credits (GitHub:
"not a billed total"; 1 credit = USD 0.01 at list price), the billing lines' `net_amount_usd` is
what is billed after the included credits. Neither is ever summed into the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import msgspec

from app.processing.facts import FactTable, SnapshotTable
from app.upstreams.copilot.identity import LoginDirectory
from app.upstreams.copilot.models import BREAKDOWNS, BillingItem, CopilotUserDay, Seat

NO_USER_ID = "report record without user_id"
Row = tuple[object, ...]  # a fact as the day writer takes it
USD_PER_CREDIT = Decimal("0.01")


class CostBasis(StrEnum):
    """How a row's money is known."""

    BILLED = "billed"  # on the invoice
    CONSUMPTION = "consumption"  # a consumption signal at list price, not a bill


class CopilotLabel(StrEnum):
    """The feed of a Copilot table's day (its label in `fact_day_digests`)."""

    USAGE = "copilot_usage"
    BILLING = "copilot_billing"


@dataclass(frozen=True, slots=True)
class CopilotFact:
    usage_date: date
    source: str
    user_id: int
    user_login: str | None
    email: str | None
    attribution_method: str
    attribution_confidence: Decimal
    entity_id: str | None
    user_initiated_interaction_count: int
    code_generation_activity_count: int
    code_acceptance_activity_count: int
    loc_suggested_to_add_sum: int
    loc_suggested_to_delete_sum: int
    loc_added_sum: int
    loc_deleted_sum: int
    used_agent: bool | None
    used_chat: bool | None
    used_cli: bool | None
    used_code_review_active: bool | None
    used_code_review_passive: bool | None
    used_cloud_agent: bool | None
    cli_sessions: int | None
    cli_requests: int | None
    cli_prompts: int | None
    cli_prompt_tokens: int | None
    cli_output_tokens: int | None
    ides: str | None
    ai_credits_used: Decimal | None
    cost_basis: str  # CostBasis.CONSUMPTION: a signal, never a bill
    ai_adoption_phase: int | None
    ai_adoption_phase_version: str | None
    breakdowns: str | None  # JSON text, keys sorted: the same record is the same bytes


@dataclass(frozen=True, slots=True)
class BillingFact:
    usage_date: date
    source: str
    line_key: str
    user_login: str | None  # None: the whole organisation's (or enterprise's) day
    user_id: int | None
    email: str | None
    attribution_method: str
    attribution_confidence: Decimal
    product: str
    sku: str
    model: str | None
    unit_type: str | None
    price_per_unit_usd: Decimal
    gross_quantity: Decimal
    gross_amount_usd: Decimal
    discount_quantity: Decimal
    discount_amount_usd: Decimal
    net_quantity: Decimal
    net_amount_usd: Decimal
    cost_basis: str  # CostBasis.BILLED


@dataclass(frozen=True, slots=True)
class SeatRow:
    user_id: int
    created_at: datetime
    user_login: str
    email: str | None
    attribution_method: str
    attribution_confidence: Decimal
    plan_type: str | None
    organization: str | None
    assigning_team: str | None
    pending_cancellation_date: date | None
    last_activity_at: datetime | None
    last_activity_editor: str | None
    last_authenticated_at: datetime | None


def _columns(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


USAGE_TABLE = FactTable("fact_copilot_daily_usage", columns=_columns(CopilotFact), key="user_id")
BILLING_TABLE = FactTable(
    "fact_copilot_billing_daily", columns=_columns(BillingFact), key="line_key"
)
SEATS_TABLE = SnapshotTable("copilot_seats", _columns(SeatRow), key=("user_id", "created_at"))


def to_row(fact: CopilotFact | BillingFact | SeatRow) -> Row:
    """A row in its table's column order (each dataclass's fields are its table's columns)."""
    return astuple(fact)


def _breakdowns(record: CopilotUserDay) -> str | None:
    kept = {
        name: msgspec.json.decode(value) if isinstance(value, msgspec.Raw) else
        [msgspec.json.decode(item) for item in value]
        for name in BREAKDOWNS
        if (value := getattr(record, name)) is not None
    }  # fmt: skip
    return msgspec.json.encode(kept, order="sorted").decode() if kept else None


def _ides(record: CopilotUserDay) -> str | None:
    names = set()
    for raw in record.totals_by_ide or []:
        ide = msgspec.json.decode(raw)
        if isinstance(ide, dict) and isinstance(ide.get("ide"), str) and ide["ide"]:
            names.add(ide["ide"])
    return ",".join(sorted(names)) or None


def usage_fact(day: date, record: CopilotUserDay, directory: LoginDirectory) -> CopilotFact:
    assert record.user_id is not None
    person = directory.person(record.user_id, record.user_login)
    cli = record.totals_by_cli
    tokens = cli.token_usage if cli is not None else None
    phase = record.ai_adoption_phase
    entity = record.organization_id if record.organization_id is not None else record.enterprise_id
    return CopilotFact(
        day, CopilotLabel.USAGE, record.user_id, record.user_login, person.email, person.method,
        person.confidence, None if entity is None else str(entity),
        record.user_initiated_interaction_count, record.code_generation_activity_count,
        record.code_acceptance_activity_count, record.loc_suggested_to_add_sum,
        record.loc_suggested_to_delete_sum, record.loc_added_sum, record.loc_deleted_sum,
        record.used_agent, record.used_chat, record.used_cli,
        record.used_copilot_code_review_active, record.used_copilot_code_review_passive,
        record.used_cloud_agent,
        cli.session_count if cli else None, cli.request_count if cli else None,
        cli.prompt_count if cli else None,
        tokens.prompt_tokens_sum if tokens else None, tokens.output_tokens_sum if tokens else None,
        _ides(record), record.ai_credits_used, CostBasis.CONSUMPTION,
        phase.phase_number if phase else None, phase.version if phase else None,
        _breakdowns(record),
    )  # fmt: skip


def usage_facts(
    day: date, records: Iterable[CopilotUserDay], directory: LoginDirectory
) -> tuple[list[CopilotFact], int]:
    """The day's rows, one per user, and how many records had no user id (skipped, counted).
    Records of another day (a file that drifted) are not this day's: they fail the day."""
    facts: dict[int, CopilotFact] = {}
    skipped = 0
    for record in records:
        if record.day != day:
            raise ValueError(f"the report of {day} holds a record of {record.day}")
        if record.user_id is None:
            skipped += 1
            continue
        if record.user_id in facts:
            raise ValueError(f"the report of {day} lists user {record.user_id} twice")
        facts[record.user_id] = usage_fact(day, record, directory)
    return list(facts.values()), skipped


def _line_key(login: str | None, item: BillingItem) -> str:
    return "|".join((login or "*", item.product.lower(), item.sku.lower(), item.model or ""))


def billing_facts(
    day: date,
    whole: Sequence[BillingItem],
    users: Sequence[tuple[int, str, Sequence[BillingItem]]],
    directory: LoginDirectory,
) -> list[BillingFact]:
    """The day's billing lines: the whole organisation's (`user_login` None), then each user's
    ((user id, login, items)). Lines meeting on (login, product, sku, model) are added up."""
    lines: dict[str, BillingFact] = {}
    for user_id, login, items in [(None, None, whole), *users]:
        person = directory.person(user_id, login) if login else None
        for item in items:
            key = _line_key(login, item)
            fact = BillingFact(
                day, CopilotLabel.BILLING, key, login, user_id,
                person.email if person else None,
                person.method if person else "unattributed",
                person.confidence if person else Decimal("0.00"),
                item.product, item.sku, item.model, item.unitType, item.pricePerUnit,
                item.grossQuantity, item.grossAmount, item.discountQuantity, item.discountAmount,
                item.netQuantity, item.netAmount, CostBasis.BILLED,
            )  # fmt: skip
            if (held := lines.get(key)) is not None:
                fact = dataclasses.replace(
                    held,
                    gross_quantity=held.gross_quantity + fact.gross_quantity,
                    gross_amount_usd=held.gross_amount_usd + fact.gross_amount_usd,
                    discount_quantity=held.discount_quantity + fact.discount_quantity,
                    discount_amount_usd=held.discount_amount_usd + fact.discount_amount_usd,
                    net_quantity=held.net_quantity + fact.net_quantity,
                    net_amount_usd=held.net_amount_usd + fact.net_amount_usd,
                )
            lines[key] = fact
    return list(lines.values())


def seat_rows(seats: Iterable[Seat], directory: LoginDirectory) -> list[SeatRow]:
    """Seats of users GitHub still has: a deleted user's seat has no assignee, and an older
    schema's team or organisation assignee is not a person."""
    rows: dict[tuple[int, datetime], SeatRow] = {}
    for seat in seats:
        user = seat.assignee
        if user is None or not user.is_person:
            continue
        assert user.id is not None and user.login is not None  # is_person
        person = directory.person(user.id, user.login)
        team = seat.assigning_team
        rows[(user.id, seat.created_at)] = SeatRow(
            user.id, seat.created_at, user.login, person.email, person.method, person.confidence,
            seat.plan_type, seat.organization.login if seat.organization else None,
            (team.slug or team.name) if team else None, seat.pending_cancellation_date,
            seat.last_activity_at, seat.last_activity_editor, seat.last_authenticated_at,
        )  # fmt: skip
    return list(rows.values())
