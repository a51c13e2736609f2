"""The toy upstream's one source: each day's pages → facts → the day writer."""

from __future__ import annotations

from datetime import timedelta

from app.config import Settings
from app.orchestration.sources.contract import Source, SourceRun
from app.orchestration.sources.writer import write_day
from app.processing.attribution import build_directory
from tests.support.toy.client import TOY_CLIENT, ToySettings
from tests.support.toy.facts import TOY_TABLE, ToyLabel, toy_facts, toy_row
from tests.support.toy.models import ToyUsage


class ToySource(Source):
    name = "toy"
    table = TOY_TABLE.name
    revision_horizon = timedelta(days=1)

    def enabled(self, settings: Settings) -> bool:
        return ToySettings().api_key is not None

    async def ingest(self, run: SourceRun) -> None:
        client = run.client(TOY_CLIENT)
        directory = build_directory(confidences=run.settings.confidences)
        for day in run.days:
            rows: list[ToyUsage] = []
            async for page in run.pages(client.usage(day, run.stats)):
                rows.extend(page.items)
            facts = toy_facts(day, rows, directory)
            await write_day(run, TOY_TABLE, ToyLabel.USAGE, day, facts, toy_row)
