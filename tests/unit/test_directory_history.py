"""Attribution through remembered users and key names, OAuth accounts, service accounts, and
platforms placed by learned Claude Code keys and Enterprise Analytics products."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.config import DEFAULT_CONFIDENCES
from app.processing.attribution import ACCOUNT_ID, KeyInfo, build_directory
from app.upstreams.anthropic import claude_ai_transform as transform
from app.upstreams.anthropic.categorization import (
    BY_CLAUDE_CODE_KEY,
    BY_CLAUDE_CODE_WORKSPACE,
    BY_DEFAULT_FOR_UNATTRIBUTED,
    BY_OTHER_WORKSPACE,
    BY_SOURCE,
    WorkspaceCategories,
    placement,
)
from app.upstreams.anthropic.claude_ai_models import AnalyticsActor, AnalyticsCostRow

C = DEFAULT_CONFIDENCES
DIRECTORY = build_directory(
    confidences=C,
    users=[("user_ana", "ana@acme.dev"), ("user_left", "left@acme.dev")],
    keys=[
        KeyInfo("key_ci", "ci-v2", "wrkspc_ci", "user_left", names=("ci", "ci-v2")),
        KeyInfo("key_a", "alpha", None, "user_ana", names=("alpha", "moved")),
        KeyInfo("key_b", "moved", None, "user_ana", names=("moved",)),
    ],
    owners=[(None, "ci", "owner@acme.dev")],
)


def test_an_old_key_name_still_finds_the_key_and_its_owner_mapping() -> None:
    attribution = DIRECTORY.by_key_name("ci")
    assert attribution.email == "owner@acme.dev"  # mapped by a name the key had before
    assert DIRECTORY.key_named("ci-v2") is DIRECTORY.keys["key_ci"]
    assert DIRECTORY.key_named("moved") is None  # two keys have had this name: ambiguous


def test_an_oauth_account_is_its_person_at_full_confidence() -> None:
    attribution = DIRECTORY.by_account("user_left")
    assert (attribution.email, attribution.method, attribution.confidence) == (
        "left@acme.dev", ACCOUNT_ID, Decimal("1.00")
    )  # fmt: skip
    assert DIRECTORY.by_account("user_never_seen").method == "unattributed"


def test_a_service_account_is_known_but_nobody() -> None:
    attribution = DIRECTORY.service_account()
    assert (attribution.email, attribution.method) == (None, "service_account")


def test_a_deleted_enterprise_user_resolves_through_their_remembered_id() -> None:
    actor = AnalyticsActor(user_id="user_left", name="Deleted User", email=None, deleted=True)
    rows = [AnalyticsCostRow(actor=actor, product="cowork", amount=Decimal("150"))]
    (fact,) = transform.analytics_facts(date(2026, 8, 1), [], rows, DIRECTORY)
    assert (fact.user_email, fact.attribution_method, fact.product, fact.platform) == (
        "left@acme.dev", ACCOUNT_ID, "cowork", "claude_ai"
    )  # fmt: skip
    assert fact.cost_usd == Decimal("1.50")
    assert transform.analytics_people(rows) == []  # a deleted actor teaches nothing


CATEGORIES = WorkspaceCategories.build(
    listed=[("wrkspc_cc", "Claude Code")], claude_code_keys={"key_ci": date(2026, 8, 2)}
)


def test_a_learned_key_is_claude_code_from_the_first_day_it_was_named() -> None:
    def placed(day: date, key: str | None = "key_ci", workspace: str | None = "wrkspc_ci") -> tuple:
        return tuple(placement("usage_report", workspace, CATEGORIES, api_key_id=key, day=day))

    assert placed(date(2026, 8, 1)) == ("claude_api", BY_OTHER_WORKSPACE)
    assert placed(date(2026, 8, 2)) == ("claude_code", BY_CLAUDE_CODE_KEY)
    assert placed(date(2026, 9, 30)) == ("claude_code", BY_CLAUDE_CODE_KEY)  # silent later
    assert placed(date(2026, 8, 1), "key_x", "wrkspc_cc") == (
        "claude_code", BY_CLAUDE_CODE_WORKSPACE
    )  # fmt: skip
    earlier = CATEGORIES.with_keys({"key_ci": date(2026, 7, 1), "key_new": date(2026, 8, 5)})
    assert earlier.claude_code_keys == {"key_ci": date(2026, 7, 1), "key_new": date(2026, 8, 5)}
    later = CATEGORIES.with_keys({"key_ci": date(2026, 9, 1)})
    assert later.claude_code_keys["key_ci"] == date(2026, 8, 2)  # the earliest day wins


@given(product=st.one_of(st.none(), st.text(max_size=16)))
def test_every_enterprise_product_has_one_platform(product: str | None) -> None:
    platform, basis = placement("claude_ai_analytics", None, CATEGORIES, product=product)
    # Usage the upstream attributes to no surface is placed by default, and says so.
    assert basis == (BY_DEFAULT_FOR_UNATTRIBUTED if product in (None, "other") else BY_SOURCE)
    assert platform == ("claude_code" if product == "claude_code" else "claude_ai")
