"""The toy upstream's client: one day's usage, a page at a time, over the shared HTTP policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from enum import StrEnum

from pydantic import AnyHttpUrl, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import redaction
from app.config import Settings
from app.ingestion.factory import ClientKey, HttpParts
from app.ingestion.http import RequestStats, UpstreamHttp
from app.ingestion.pagination import Page, fetch_page
from tests.support.toy.models import ToyPage, ToyUsage


class ToyEndpoint(StrEnum):
    USAGE = "usage"


class ToySettings(BaseSettings):
    """The toy's own settings (TOY_API_KEY, TOY_API_BASE_URL)."""

    model_config = SettingsConfigDict(env_prefix="TOY_")
    api_key: SecretStr | None = None
    api_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:1")


class ToyClient:
    upstream = "toy"

    def __init__(self, http: UpstreamHttp) -> None:
        self._http = http

    async def usage(self, day: date, stats: RequestStats) -> AsyncIterator[Page[ToyUsage]]:
        number: int | None = 1
        while number is not None:
            page = await fetch_page(
                self._http, "GET", "/toy/v1/usage", ToyPage, endpoint=ToyEndpoint.USAGE,
                stats=stats, where=f"{day} page {number}",
                params=[("date", day.isoformat()), ("page", number)],
            )  # fmt: skip
            yield Page(page.data, number)
            number = page.next_page


def build_client(settings: Settings, parts: HttpParts) -> ToyClient | None:
    toy = ToySettings()
    if toy.api_key is None:
        return None
    redaction.remember([toy.api_key.get_secret_value()])
    return ToyClient(
        parts.http(
            upstream=ToyClient.upstream,
            base_url=str(toy.api_base_url),
            key_setting="TOY_API_KEY",
            headers={"x-api-key": toy.api_key.get_secret_value()},
            per_minute=600_000,
        )
    )


TOY_CLIENT: ClientKey[ToyClient] = ClientKey("toy", build_client)
