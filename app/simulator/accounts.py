"""Several accounts behind one simulator: each Cursor team or Anthropic organisation is an
organisation of its own (its truth, its keys, its rate budgets, its faults), served under its
own path (`/<account>/…`), the base URL its `[[account]]` entry names.

`three_accounts` is the acceptance's world: two Cursor teams and one Anthropic organisation,
different people in each, one person in a Cursor team and in the organisation, one in both
teams. `four_accounts` adds a second organisation, whose key ids are the first's (the same key
id in two organisations is two keys).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI

from app.simulator.app import create_simulator
from app.simulator.model import GroundTruth
from app.simulator.plumbing import SimulatorOptions

# The kinds whose secret each option holds (app.accounts.AccountKind names).
_SECRET_OF_KIND = {
    "cursor_team": "cursor_api_key",
    "anthropic_organization": "admin_api_key",
    "anthropic_enterprise_analytics": "analytics_api_key",
    "anthropic_compliance": "compliance_api_key",
}
SHARED_EMAIL = "ana.shared@acme.dev"  # in the Cursor team `north` and the organisation `org`
BOTH_TEAMS_EMAIL = "bo.both@acme.dev"  # in both Cursor teams


@dataclass(frozen=True)
class SimulatedAccount:
    name: str
    kind: str
    truth: GroundTruth
    options: SimulatorOptions

    @property
    def secret(self) -> str:
        value: str = getattr(self.options, _SECRET_OF_KIND[self.kind])
        return value

    @property
    def secret_env(self) -> str:
        return f"SIM_KEY_{self.name.upper().replace('-', '_')}"


def account_options(name: str, base: SimulatorOptions | None = None) -> SimulatorOptions:
    """The options of one account: keys of its own (two accounts never share a key)."""
    return dataclasses.replace(
        base or SimulatorOptions(),
        cursor_api_key=f"sim-cursor-key-{name}",
        admin_api_key=f"sk-ant-admin01-sim-{name}",
        compliance_api_key=f"sk-ant-api01-sim-compliance-{name}",
        analytics_api_key=f"sk-ant-analytics-sim-{name}",
    )


def create_accounts_simulator(accounts: Sequence[SimulatedAccount]) -> FastAPI:
    """One app serving every account under `/<name>`; `app.state.accounts` holds each
    account's own simulator app (its truth, faults and request counts)."""
    app = FastAPI(title="ai-usage-pipeline upstream simulator (accounts)", docs_url=None)
    app.state.accounts = {}
    for account in accounts:
        served = create_simulator(account.truth, account.options)
        app.state.accounts[account.name] = served
        app.mount(f"/{account.name}", served)
    return app


def accounts_file(accounts: Sequence[SimulatedAccount], base_url: str) -> str:
    """The ACCOUNTS_FILE of these accounts (secrets in the variables `secret_env` names)."""
    entries = [
        f'[[account]]\nname = "{a.name}"\nkind = "{a.kind}"\nsecret_env = "{a.secret_env}"\n'
        f'base_url = "{base_url.rstrip("/")}/{a.name}"\n'
        for a in accounts
    ]
    return "\n".join(entries)


def accounts_environment(accounts: Sequence[SimulatedAccount]) -> dict[str, str]:
    return {account.secret_env: account.secret for account in accounts}


def _first(truth: GroundTruth, wanted: str) -> int:
    """The first person of a truth who uses Cursor (`cursor`), or an API key and no Claude
    Code subscription (`api`: their tokens are all in the messages usage report)."""
    for person in truth.people:
        if wanted == "cursor" and person.uses_cursor:
            return person.index
        if wanted == "api" and person.api_keys and not person.claude_code_subscription:
            return person.index
    raise LookupError(f"no {wanted} person in this truth")


def three_accounts(
    users: int = 24, seed: int = 11, options: SimulatorOptions | None = None
) -> list[SimulatedAccount]:
    """Cursor teams `north` and `south`, Anthropic organisation `org`."""
    seeds = {"north": seed, "south": seed + 1, "org": seed + 2}
    probe = {name: GroundTruth(seed=s, users=users) for name, s in seeds.items()}
    north_ana, org_ana = _first(probe["north"], "cursor"), _first(probe["org"], "api")
    north_bo = next(p.index for p in probe["north"].people[north_ana + 1 :] if p.uses_cursor)
    south_bo = _first(probe["south"], "cursor")
    emails = {
        "north": {north_ana: SHARED_EMAIL, north_bo: BOTH_TEAMS_EMAIL},
        "south": {south_bo: BOTH_TEAMS_EMAIL},
        "org": {org_ana: SHARED_EMAIL},
    }
    kinds = {"north": "cursor_team", "south": "cursor_team", "org": "anthropic_organization"}
    return [
        SimulatedAccount(
            name,
            kinds[name],
            GroundTruth(
                seed=seeds[name], users=users, email_domain=f"{name}.acme.dev", emails=emails[name]
            ),
            account_options(name, options),
        )
        for name in seeds
    ]


def four_accounts(
    users: int = 24, seed: int = 11, options: SimulatorOptions | None = None
) -> list[SimulatedAccount]:
    """`three_accounts` and a second organisation, `lab`, with the same key ids as `org`."""
    lab = SimulatedAccount(
        "lab",
        "anthropic_organization",
        GroundTruth(seed=seed + 3, users=users, email_domain="lab.acme.dev"),
        account_options("lab", options),
    )
    return [*three_accounts(users, seed, options), lab]
