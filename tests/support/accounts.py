"""Several accounts in tests: the accounts simulator (`app.simulator.accounts`) served over
loopback, its ACCOUNTS_FILE written, its secrets in the environment, and truth per account."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn

from app.config import Settings, load_settings
from app.simulator.accounts import (
    SimulatedAccount,
    accounts_environment,
    accounts_file,
    create_accounts_simulator,
)
from app.simulator.faults import FaultSpec
from app.simulator.model import GroundTruth
from tests.support.services import SERVICE_UNDER_TEST, serve_in_thread

TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


@dataclass
class AccountsSimulator:
    url: str
    accounts: list[SimulatedAccount]
    server: uvicorn.Server
    app: Any
    file: Path

    def truth(self, name: str) -> GroundTruth:
        return next(account.truth for account in self.accounts if account.name == name)

    def served(self, name: str) -> Any:
        """One account's own simulator app (its faults, request counts)."""
        return self.app.state.accounts[name]

    def fault(self, name: str, endpoint: str, **spec: Any) -> None:
        self.served(name).state.faults.add(endpoint, FaultSpec(**spec))

    def settings(self, database_url: str | None = None, **overrides: Any) -> Settings:
        """Settings with only the account file (no single-key account `default`)."""
        values: dict[str, Any] = {
            "_env_file": None,
            "database_url": database_url,
            "accounts_file": self.file,
            "allow_insecure_upstreams": False,
            **SERVICE_UNDER_TEST,
        }
        values.update(overrides)
        return load_settings(**values)


def start_accounts_simulator(accounts: Sequence[SimulatedAccount]) -> AccountsSimulator:
    app = create_accounts_simulator(accounts)
    url, server = serve_in_thread(app)
    directory = Path(tempfile.mkdtemp(prefix="aup-accounts-"))
    file = directory / "accounts.toml"
    file.write_text(accounts_file(accounts, url))
    os.environ.update(accounts_environment(accounts))  # where the file says the secrets are
    return AccountsSimulator(url, list(accounts), server, app, file)


def cursor_truth(truth: GroundTruth, start: date, end: date) -> dict[tuple[date, str], Any]:
    """Daily-usage counters per (day, email), as `tests.integration.jobs` compares them."""
    return {
        (day, email.lower()): (
            row["totalLinesAdded"], row["acceptedLinesAdded"], row["agentRequests"],
            row["isActive"],
        )
        for (day, email), row in truth.expected_cursor_rows(start, end).items()
    }  # fmt: skip


def person_cursor_truth(
    truth: GroundTruth, email: str, start: date, end: date
) -> tuple[int, Decimal]:
    """(tokens, billed USD) of one person's Cursor usage events in one team."""
    tokens, billed = 0, Decimal(0)
    for (_, identity), row in truth.expected_cursor_spend(start, end).items():
        if identity == email:
            tokens += sum(int(row[name]) for name in TOKENS)
            billed += Decimal(row["on_demand_cost_usd"])
    return tokens, billed


def person_usage_report_tokens(truth: GroundTruth, email: str, start: date, end: date) -> int:
    """Tokens of the messages usage report that belong to one person of an organisation."""
    total = 0
    for day in truth.days(start, end):
        for row in truth.usage_rows(day):
            owner, _ = truth.expected_usage_attribution(
                row.api_key_id, row.account_id, row.service_account_id
            )
            if owner == email:
                total += (
                    row.uncached_input_tokens + row.cache_creation_5m + row.cache_creation_1h
                    + row.cache_read_input_tokens + row.output_tokens
                )  # fmt: skip
    return total
