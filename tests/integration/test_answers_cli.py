"""`usage-pipeline teams|budgets|spend|seats|digest` against a real database: bad input is exit
2 with one line naming the field or row, and nothing partly imported."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from tests.support.cli import usage_pipeline

cli = usage_pipeline


async def test_teams_and_budgets_from_the_cli(
    db: asyncpg.Pool, database_dsn: str, tmp_path: Path
) -> None:
    good = tmp_path / "teams.csv"
    good.write_text(
        "email,team,effective_from\nana@acme.dev,platform,\nana@acme.dev,data,2026-08-10\n"
    )
    result = cli(database_dsn, "teams", "import", str(good))
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("email,team,effective_from\nbo@acme.dev,data,\nbo@acme.dev,x,10/08/2026\n")
    result = cli(database_dsn, "teams", "import", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"usage-pipeline: {bad}: line 3: invalid effective_from '10/08/2026' (YYYY-MM-DD)"
    )
    exported = cli(database_dsn, "teams", "export")
    assert exported.stdout == (
        "email,team,effective_from,note\nana@acme.dev,platform,,\nana@acme.dev,data,2026-08-10,\n"
    )

    assert cli(database_dsn, "budgets", "set", "team", "500", "--value", "data").returncode == 0
    for args, message in (
        (("budgets", "set", "galaxy", "5"), "scope: unknown 'galaxy'"),
        (("budgets", "set", "--value", "data", "team", "--", "-5"), "monthly_usd must be above 0"),
        (("budgets", "set", "team", "lots", "--value", "data"), "must be numbers"),
        (("budgets", "set", "team", "5"), "--value: required for scope team"),
        (("spend", "--end", "2999-01-01"), "is not a complete UTC day yet"),
        (("spend", "--by", "squad"), "group_by: unknown squad"),
    ):
        result = cli(database_dsn, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    listed = cli(database_dsn, "budgets", "list")
    assert "data" in listed.stdout and "500" in listed.stdout
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM budgets") == 1
    for args in (("seats",), ("digest", "--week", "2026-08-03"), ("spend", "--by", "team,tool")):
        result = cli(database_dsn, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert cli(database_dsn, "digest", "--week", "2026-08-03").stdout.startswith(
        "# AI usage, week 2026-W32"
    )


async def test_answers_as_json_are_the_api_documents(db: asyncpg.Pool, database_dsn: str) -> None:
    """`--output json` gives the API's shapes (docs/cli.md); plain gives whole columns."""
    from pydantic import TypeAdapter

    from app.api.budgets import BudgetOut
    from app.api.insights import SeatsAnswer, SpendAnswer
    from app.cli_accounts import AccountListed

    assert cli(database_dsn, "budgets", "set", "organization", "1000").returncode == 0
    spend = cli(database_dsn, "spend", "--by", "tool,platform", "--output", "json")
    assert SpendAnswer.model_validate_json(spend.stdout).group_by == ["tool", "platform"]
    assert SeatsAnswer.model_validate_json(cli(database_dsn, "seats", "-o", "json").stdout)
    budgets = TypeAdapter(list[BudgetOut]).validate_json(
        cli(database_dsn, "budgets", "list", "-o", "json").stdout
    )
    assert [(b.scope, b.monthly_usd) for b in budgets] == [("organization", 1000)]
    digest = json.loads(cli(database_dsn, "digest", "--week", "2026-08-03", "-o", "json").stdout)
    assert digest["week"] == "2026-W32"
    listed = json.loads(cli(database_dsn, "accounts", "list", "-o", "json").stdout)["accounts"]
    assert all(AccountListed.model_validate(account) for account in listed)
    plain = cli(database_dsn, "budgets", "list").stdout.splitlines()
    assert plain[:2] == ["budgets", "id  scope         value  USD a month  thresholds"], plain
