"""Attribution that remembers people and keys, OAuth and service accounts, Claude Code keys
learned from analytics, and every Enterprise Analytics product — against the simulator's truth."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from app.repositories import directory
from app.simulator.model import GroundTruth
from app.simulator.world import CI_KEY_ID, CI_KEY_NAME, cents_text
from tests.integration.jobs import END, START, run_job
from tests.support.services import Simulator

ENTERPRISE_ONLY: dict[str, Any] = {
    "cursor_api_key": None,
    "anthropic_admin_api_key": None,
    "claude_ai_activity_enabled": False,
    "anthropic_compliance_api_key": None,
}


async def _usage_rows(pool: asyncpg.Pool, **where: Any) -> list[asyncpg.Record]:
    clauses = " AND ".join(f"{column} = ${n}" for n, column in enumerate(where, start=1))
    async with pool.acquire() as connection:
        return await connection.fetch(
            "SELECT * FROM fact_claude_daily_usage WHERE source = 'usage_report'"
            + (f" AND {clauses}" if clauses else ""),
            *where.values(),
        )


def _developer_with_key(truth: GroundTruth) -> tuple[int, str]:
    """A person with a key of their own that has usage in the window, and that key."""
    key_by_id = truth.key_by_id()
    for day in truth.days(START, END):
        for row in truth.usage_rows(day):
            key = key_by_id.get(row.api_key_id or "")
            if (
                key is not None
                and key.creator_index not in (None, 0)
                and key.name.startswith("dev-")
            ):
                return key.creator_index, key.id
    raise AssertionError("the simulator has no developer key with usage")


async def test_a_creator_who_left_still_owns_their_past_usage(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    index, key_id = _developer_with_key(simulator.truth)
    person = simulator.truth.people[index]
    await run_job(db, simulator)
    before = await _usage_rows(db, api_key_id=key_id)
    assert before and {(r["user_email"], r["attribution_method"]) for r in before} == {
        (person.email, "key_creator")
    }

    simulator.truth.departed.add(index)  # gone from the users list, the key now inactive
    simulator.truth.views.clear()
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason

    after = await _usage_rows(db, api_key_id=key_id)
    assert {
        (r["user_email"], r["attribution_method"], r["attribution_confidence"]) for r in after
    } == {(person.email, "key_creator", Decimal("0.80"))}
    async with db.acquire() as connection:
        gone = await connection.fetchrow(
            "SELECT email, gone_since FROM directory_users WHERE user_id = $1", person.user_id
        )
        status = await connection.fetchval(
            "SELECT status FROM directory_api_keys WHERE api_key_id = $1", key_id
        )
    assert gone["email"] == person.email and gone["gone_since"] is not None
    assert status == "inactive"


async def test_a_key_renamed_after_its_owner_was_mapped_by_name_keeps_its_owner(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    _, key_id = _developer_with_key(simulator.truth)
    key = simulator.truth.key_by_id()[key_id]
    async with db.acquire() as connection:  # mapped by name before any run knows the key
        await directory.replace_key_owners(
            connection, [directory.KeyOwner(None, key.name, "owner@acme.dev")]
        )
    await run_job(db, simulator)
    async with db.acquire() as connection:
        pinned = await connection.fetchval(
            "SELECT api_key_id FROM api_key_owners WHERE key_name = $1", key.name
        )
    assert pinned == key_id  # the run that first saw the key pinned the mapping to it

    simulator.truth.renamed_keys[key_id] = f"{key.name}-renamed"
    simulator.truth.renamed_keys[CI_KEY_ID] = "ci-claude-code-v2"
    simulator.truth.views.clear()
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason

    rows = await _usage_rows(db, api_key_id=key_id)
    assert rows and {r["user_email"] for r in rows} == {"owner@acme.dev"}
    assert {r["attribution_method"] for r in rows} <= {"key_owner_mapping", "conflict"}
    async with db.acquire() as connection:
        names = await connection.fetch(
            "SELECT name FROM directory_api_key_names WHERE api_key_id = $1", CI_KEY_ID
        )
        ci_actor = await connection.fetch(
            "SELECT DISTINCT actor_name, user_email, attribution_method"
            " FROM fact_claude_daily_usage WHERE actor_type = 'api_actor'"
            " AND actor_name LIKE 'ci-claude-code%'"
        )
    assert {r["name"] for r in names} == {CI_KEY_NAME, "ci-claude-code-v2"}
    owner = simulator.truth.people[0].email
    assert {(r["user_email"], r["attribution_method"]) for r in ci_actor} == {
        (owner, "key_name_match")
    }


async def test_key_owners_imported_by_name_resolve_to_key_ids_at_import(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator)  # the directory now knows every key
    async with db.acquire() as connection:
        await directory.replace_key_owners(
            connection,
            [
                directory.KeyOwner(None, CI_KEY_NAME, "ci-owner@acme.dev"),
                directory.KeyOwner(None, "shared-sandbox", "nobody@acme.dev"),  # two keys
                directory.KeyOwner(None, "no-such-key", "later@acme.dev"),
            ],
        )
        owners = {
            o.key_name: o.api_key_id for o in await directory.key_owners(connection, "default")
        }
    assert owners == {CI_KEY_NAME: CI_KEY_ID, "shared-sandbox": None, "no-such-key": None}


async def test_oauth_rows_are_their_person_at_full_confidence_service_accounts_nobody(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator)
    by_user = {p.user_id: p.email for p in simulator.truth.people}
    oauth = [r for r in await _usage_rows(db) if r["account_id"]]
    assert oauth
    for row in oauth:
        assert row["api_key_id"] is None and row["actor_type"] == "oauth_account"
        assert (row["user_email"], row["attribution_method"], row["attribution_confidence"]) == (
            by_user[row["account_id"]],
            "account_id",
            Decimal("1.00"),
        )
    service = [r for r in await _usage_rows(db) if r["service_account_id"]]
    assert service
    assert {(r["user_email"], r["attribution_method"], r["actor_type"]) for r in service} == {
        (None, "service_account", "service_account")
    }
    # OAuth tokens are not folded into the key-less Console row: both kept, apart.
    truth_oauth = sum(
        row.uncached_input_tokens
        for day in simulator.truth.days(START, END)
        for row in simulator.truth.usage_rows(day)
        if row.account_id
    )
    assert sum(r["uncached_input_tokens"] for r in oauth) == truth_oauth


async def test_a_claude_code_key_outside_the_workspace_is_claude_code_and_its_owner_has_tokens(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason
    ci_rows = await _usage_rows(db, api_key_id=CI_KEY_ID)
    assert ci_rows
    assert {(r["platform"], r["platform_basis"]) for r in ci_rows} == {
        ("claude_code", "claude_code_key")
    }
    owner = simulator.truth.people[0].email
    truth = simulator.truth
    for day in truth.days(START, END):
        expected = sum(
            row.output_tokens
            for row in truth.usage_rows(day)
            if truth.expected_usage_platform(row) == "claude_code"
            and truth.expected_key_owner(row.api_key_id) == owner
        )
        async with db.acquire() as connection:
            got = await connection.fetchval(
                "SELECT output_tokens FROM claude_usage_by_user_day"
                " WHERE usage_date = $1 AND platform = 'claude_code' AND user_email = $2",
                day, owner,
            )  # fmt: skip
        ci_output = sum(r["output_tokens"] for r in ci_rows if r["usage_date"] == day)
        if ci_output:
            assert got == expected and got >= ci_output
    async with db.acquire() as connection:
        since = await connection.fetchval(
            "SELECT claude_code_since FROM directory_api_keys WHERE api_key_id = $1", CI_KEY_ID
        )
    assert since == min(r["usage_date"] for r in ci_rows)

    # A later run that reads only messages usage keeps the learned platform for those days.
    _, outcome = await run_job(db, simulator, sources=["claude_usage", "claude_cost"])
    assert outcome.status == "succeeded", outcome.reason
    again = await _usage_rows(db, api_key_id=CI_KEY_ID)
    assert {(r["platform"], r["platform_basis"]) for r in again} == {
        ("claude_code", "claude_code_key")
    }


def _product_rows(rows: list[asyncpg.Record]) -> dict[tuple[date, str | None, str], tuple]:
    table: dict[tuple[date, str | None, str], tuple] = {}
    for r in rows:
        tokens = (
            r["uncached_input_tokens"] + r["cache_read_input_tokens"] + r["output_tokens"]
            + r["cache_creation_input_tokens"]
        )  # fmt: skip
        table[(r["usage_date"], r["user_email"], r["product"])] = (
            tokens,
            r["requests"],
            r["cost_usd"],
        )
    return table


def _conserves_the_organisation(rows: list[asyncpg.Record], simulator: Simulator) -> None:
    """Per day and product: the people's rows plus the remainder row equal the organisation's
    report (its seat users and its API-key and automation traffic), to the last digit; the
    remainder is nobody's."""
    truth = simulator.truth
    table: dict[tuple[date, str | None], tuple[int, int, Decimal]] = {}
    for r in rows:
        tokens, requests, cost = table.get((r["usage_date"], r["product"]), (0, 0, Decimal(0)))
        table[(r["usage_date"], r["product"])] = (
            tokens + r["uncached_input_tokens"] + r["cache_read_input_tokens"]
            + r["output_tokens"] + r["cache_creation_input_tokens"],
            requests + r["requests"],
            cost + r["cost_usd"],
        )  # fmt: skip
        if r["actor_type"] == "organization_remainder":
            assert r["user_email"] is None and r["attribution_method"] == "unattributed"
    organisation: dict[tuple[date, str | None], tuple[int, int, Decimal]] = {}
    for (day, _, product), (tokens, requests, cost) in truth.expected_product_rows(
        START, END
    ).items():
        t, q, c = organisation.get((day, product), (0, 0, Decimal(0)))
        organisation[(day, product)] = (t + tokens, q + requests, c + cost)
    for day in truth.days(START, END):
        for product, (used, cents) in truth.org_analytics_extra(day).items():
            t, q, c = organisation.get((day, product), (0, 0, Decimal(0)))
            extra = used["uncached_input_tokens"] + used["cache_read_input_tokens"]
            extra += used["output_tokens"]
            organisation[(day, product)] = (t + extra, q + used["requests"],
                                            c + Decimal(cents_text(cents)) / 100)  # fmt: skip
    assert table == organisation


async def test_an_enterprise_only_org_gets_every_product_and_its_deleted_users(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    truth = simulator.truth
    users_of_claude_ai = [p for p in truth.people if p.uses_claude_ai or p.claude_code_subscription]
    remembered, never_seen = users_of_claude_ai[0], users_of_claude_ai[1]
    truth.deleted_users.add(never_seen.index)  # deleted before we ever read them
    truth.views.clear()

    _, outcome = await run_job(db, simulator, **ENTERPRISE_ONLY)
    assert outcome.status == "succeeded", outcome.reason
    assert list(outcome.sources) == ["claude_ai"]

    truth.deleted_users.add(remembered.index)  # deleted after a run saw them
    truth.views.clear()
    _, outcome = await run_job(db, simulator, **ENTERPRISE_ONLY)
    assert outcome.status == "succeeded", outcome.reason

    async with db.acquire() as connection:
        every = await connection.fetch(
            "SELECT * FROM fact_claude_daily_usage WHERE source = 'claude_ai_analytics'"
        )
    rows = [r for r in every if r["actor_type"] != "organization_remainder"]
    _conserves_the_organisation(every, simulator)
    # Without the Admin API (no messages usage report), the remainder is the only account of
    # API-key traffic: the analyst view counts it.
    async with db.acquire() as connection:
        view = await connection.fetch(
            "SELECT usage_date, platform, sum(billed_cost_usd) AS cost"
            " FROM claude_usage_by_user_day GROUP BY 1, 2"
        )
    by_platform: dict[tuple[date, str], Decimal] = {}
    for r in every:
        key = (r["usage_date"], r["platform"])
        by_platform[key] = by_platform.get(key, Decimal(0)) + r["cost_usd"]
    assert {(r["usage_date"], r["platform"]): r["cost"] for r in view} == by_platform
    expected: dict[tuple[date, str | None, str | None], tuple] = {}
    for (day, email, product), value in truth.expected_product_rows(START, END).items():
        expected[(day, None if email == never_seen.email else email, product)] = value
    assert _product_rows(rows) == expected
    # Every product, asked for by asking for none: "other" and product-less usage included.
    assert {r["product"] for r in rows} == {
        "chat", "claude_code", "cowork", "office_agent", "claude_in_chrome", "claude_design",
        "claude-in-slack", "other", None,
    }  # fmt: skip
    for row in rows:
        platform = "claude_code" if row["product"] == "claude_code" else "claude_ai"
        basis = "unattributed_product" if row["product"] in ("other", None) else "source"
        assert (row["platform"], row["platform_basis"]) == (platform, basis)
        if row["actor_name"] == remembered.email:
            assert (row["user_email"], row["attribution_method"]) == (
                remembered.email,
                "account_id",
            )
        if row["user_email"] is None:
            assert (row["actor_name"], row["attribution_method"]) == (
                never_seen.user_id,
                "unattributed",
            )


async def test_both_claude_code_sources_count_each_person_day_once(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    """Seat users' Claude Code is in Admin Claude Code analytics *and* Enterprise Analytics:
    the view takes tokens and billed cost from Enterprise Analytics, estimated cost and
    productivity from Claude Code analytics, and never adds the two."""
    truth = simulator.truth
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason
    seat_users = [p for p in truth.people if p.claude_code_subscription]
    assert seat_users
    expected: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for day in truth.days(START, END):
        for person in seat_users:
            if usage := truth.product_usage(person, day).get("claude_code"):
                expected[(day, person.email)][0] += usage[0]["output_tokens"]
                expected[(day, person.email)][1] += len(truth._person_claude_code(person, day))
    assert expected
    async with db.acquire() as connection:
        for (day, email), (output, records) in expected.items():
            view = await connection.fetchrow(
                "SELECT output_tokens, sessions, billed_cost_usd, estimated_cost_usd"
                " FROM claude_usage_by_user_day"
                " WHERE usage_date = $1 AND platform = 'claude_code' AND user_email = $2",
                day, email,
            )  # fmt: skip
            sources = await connection.fetch(
                "SELECT DISTINCT source FROM fact_claude_daily_usage"
                " WHERE usage_date = $1 AND platform = 'claude_code' AND user_email = $2",
                day, email,
            )  # fmt: skip
            assert {s["source"] for s in sources} == {
                "claude_code_analytics",
                "claude_ai_analytics",
            }
            assert view["output_tokens"] == output  # once, not twice
            assert view["billed_cost_usd"] == view["estimated_cost_usd"] > 0
            assert records and view["sessions"] > 0
