"""GET /sources: what this service can ingest, from the source registry."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.api import database
from app.api.auth import READ
from app.api.problems import PROTECTED
from app.api.runtime import runtime_of
from app.config import UPSTREAM_KEY_SETTINGS, Settings
from app.json_value import JsonObject
from app.orchestration.sources.contract import KEY_EXPIRY, KEY_EXPIRY_WARNING
from app.orchestration.sources.registry import REGISTRY
from app.repositories import runs as runs_repo

router = APIRouter(tags=["runs"], dependencies=[READ], responses=PROTECTED)


class SourceOut(BaseModel):
    name: str
    table: str = Field(description="The fact table the source writes.")
    configured: bool = Field(description="Its credentials are set on this service.")
    requires: list[str] = Field(description="Sources a run of this one brings along.")
    waits_on: list[str] = Field(
        description="Sources of the same run it reads a day (`source/day`) or its window"
        " (`source/window`) after."
    )
    revision_horizon_days: int = Field(
        description="How long after a day the upstream may still revise it."
    )


class AccountOut(BaseModel):
    name: str
    kind: str | None = Field(
        description="What the account is (ACCOUNTS_FILE); null: the single-key settings."
    )
    sources: list[str] = Field(description="The sources its credentials configure.")
    key_settings: list[str] = Field(
        default_factory=list, description="The settings that hold its keys (names, not values)."
    )


class KeyOut(BaseModel):
    account: str
    setting: str = Field(description="The setting that holds the key.")
    expires_at: datetime = Field(description="When the upstream says the key expires.")
    expires_in_days: float
    expiring_soon: bool = Field(description="Within 14 days: rotate it (an expired key is 401).")


class SourceList(BaseModel):
    sources: list[SourceOut]
    accounts: list[AccountOut]
    keys: list[KeyOut] = Field(
        description="Our keys whose expiry an upstream lists (Anthropic's keys list), from the"
        " latest successful run that read it."
    )


@router.get("/sources", response_model=SourceList, summary="Sources a run can name")
async def list_sources(request: Request) -> SourceList:
    async with database.connection(request) as connection:
        return await sources_answer(connection, runtime_of(request).settings)


async def sources_answer(connection: asyncpg.Connection, settings: Settings) -> SourceList:
    """GET /sources's answer (the CLI's local `sources` too)."""
    accounts = REGISTRY.accounts(settings)
    offered = {account.name: REGISTRY.configured(account.settings) for account in accounts}
    configured = {name for names in offered.values() for name in names}
    details = await runs_repo.latest_details(connection, REGISTRY.names())
    return SourceList(
        keys=_keys(details),
        accounts=[
            AccountOut(
                name=account.name,
                kind=None if account.kind is None else account.kind.name,
                sources=offered[account.name],
                key_settings=[
                    name.upper()
                    for name in UPSTREAM_KEY_SETTINGS
                    if getattr(account.settings, name) is not None
                ],
            )
            for account in accounts
        ],
        sources=[
            SourceOut(
                name=source.name,
                table=source.table,
                configured=source.name in configured,
                requires=list(source.requires),
                waits_on=[f"{after.source}/{after.per}" for after in source.after],
                revision_horizon_days=source.revision_horizon.days,
            )
            for source in REGISTRY
        ],
    )


def _keys(details: dict[tuple[str, str], JsonObject]) -> list[KeyOut]:
    expiries: dict[tuple[str, str], datetime] = {}
    for (account, _), measured in details.items():
        listed = measured.get(KEY_EXPIRY.name)
        for setting, when in (listed if isinstance(listed, dict) else {}).items():
            if isinstance(when, str):
                expiries[account, setting] = datetime.fromisoformat(when)
    now = datetime.now(UTC)
    return [
        KeyOut(
            account=account,
            setting=setting,
            expires_at=when,
            expires_in_days=round((when - now).total_seconds() / 86400, 2),
            expiring_soon=when - now <= KEY_EXPIRY_WARNING,
        )
        for (account, setting), when in sorted(expiries.items())
    ]
