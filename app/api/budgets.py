"""Teams, budgets and alerts: `GET|PUT /teams`, `GET|PUT|DELETE /budgets…`, `GET /alerts`.

Changing teams or budgets takes an `admin` token; reading them, any `read` token."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, field_validator

from app.api import database
from app.api.auth import READ, require
from app.api.bodies import body_schema, json_body
from app.api.problems import PROTECTED, ProblemError, documented
from app.orchestration.insights import SCOPES, takes_value, threshold_ok
from app.people_csv import AliasFileError, format_teams, parse_teams
from app.repositories import alerts as alerts_repo
from app.vocabulary import ApiScope

router = APIRouter(tags=["answers"], responses=PROTECTED)
ADMIN = Depends(require(ApiScope.ADMIN))
MAX_TEAMS_BYTES = 8 << 20


CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}}


@router.get(
    "/teams",
    dependencies=[READ],
    response_class=Response,
    summary="People's teams as CSV (the import's format)",
    responses={200: {**CSV, "description": "email, team, effective_from, note"},
               **documented(401, 403)},
)  # fmt: skip
async def get_teams(request: Request) -> Response:
    async with database.connection(request) as connection:
        members = await alerts_repo.teams(connection)
    return Response(format_teams(members), media_type="text/csv")


class Imported(BaseModel):
    imported: int


@router.put(
    "/teams",
    dependencies=[ADMIN],
    response_model=Imported,
    summary="Replace the teams with a CSV (email, team, effective_from, note): all or nothing",
    responses=documented(401, 403, 413, 422),
    openapi_extra={"requestBody": {"required": True, **CSV}},
)
async def put_teams(request: Request) -> Imported:
    body = await request.body()
    if len(body) > MAX_TEAMS_BYTES:
        raise ProblemError(413, f"at most {MAX_TEAMS_BYTES} bytes")
    try:
        members = parse_teams(body.decode("utf-8"))
    except (UnicodeDecodeError, AliasFileError) as exc:
        raise ProblemError(422, f"teams CSV: {exc}") from None
    async with database.connection(request) as connection:
        await alerts_repo.replace_teams(connection, members)
    return Imported(imported=len(members))


class BudgetIn(BaseModel):
    scope: str = Field(description="organization, account, team, person or tool.")
    scope_value: str = Field(default="", description="Which one (empty for organization).")
    monthly_usd: Decimal = Field(gt=0, description="Billed USD a month.")
    thresholds: list[Decimal] = Field(
        default_factory=lambda: [Decimal("0.8"), Decimal(1)],
        description="Fractions of the amount that alert (once each per month).",
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if value not in SCOPES:
            raise ValueError(f"unknown scope {value!r} (known: {', '.join(SCOPES)})")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[Decimal]) -> list[Decimal]:
        if not value or not all(threshold_ok(t) for t in value):
            raise ValueError("thresholds are fractions of the amount, above 0 (e.g. 0.8, 1)")
        return sorted(set(value))


class BudgetOut(BaseModel):
    id: int
    scope: str
    scope_value: str
    monthly_usd: Decimal
    thresholds: list[Decimal]


@router.get(
    "/budgets", dependencies=[READ], response_model=list[BudgetOut],
    responses=documented(401, 403),
)  # fmt: skip
async def get_budgets(request: Request) -> list[BudgetOut]:
    async with database.connection(request) as connection:
        found = await alerts_repo.budgets(connection)
    return [BudgetOut.model_validate(b, from_attributes=True) for b in found]


@router.put(
    "/budgets",
    dependencies=[ADMIN],
    response_model=BudgetOut,
    summary="Set a scope's monthly budget (again: its new amount and thresholds)",
    responses=documented(401, 403, 422),
    openapi_extra=body_schema(BudgetIn, required=True),
)
async def put_budget(request: Request) -> BudgetOut:
    budget = await json_body(request, BudgetIn)
    if budget is None:
        raise ProblemError(422, "body: a budget is required")
    if not takes_value(budget.scope) and budget.scope_value:
        raise ProblemError(422, "scope_value: the organization scope takes none")
    if takes_value(budget.scope) and not budget.scope_value:
        raise ProblemError(422, f"scope_value: which {budget.scope} (required)")
    async with database.connection(request) as connection:
        saved = await alerts_repo.upsert_budget(
            connection, budget.scope, budget.scope_value, budget.monthly_usd, budget.thresholds
        )
    return BudgetOut.model_validate(saved, from_attributes=True)


@router.delete(
    "/budgets/{budget_id}", dependencies=[ADMIN], status_code=204,
    responses=documented(401, 403, 404, 422),
)  # fmt: skip
async def delete_budget(
    request: Request, budget_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> Response:
    async with database.connection(request) as connection:
        if not await alerts_repo.delete_budget(connection, budget_id):
            raise ProblemError(404, f"no budget {budget_id}")
    return Response(status_code=204)


class DeliveryOut(BaseModel):
    target: str = Field(description="The webhook target's name (never its URL).")
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None


class AlertOut(BaseModel):
    id: int
    kind: str
    dedup_key: str
    payload: dict[str, object]
    created_at: datetime
    deliveries: list[DeliveryOut]


@router.get(
    "/alerts", dependencies=[READ], response_model=list[AlertOut],
    summary="Recent alerts and the state of each delivery", responses=documented(401, 403, 422),
)  # fmt: skip
async def get_alerts(
    request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[AlertOut]:
    async with database.connection(request) as connection:
        found = await alerts_repo.recent_alerts(connection, limit)
    return [AlertOut.model_validate(a, from_attributes=True) for a in found]
