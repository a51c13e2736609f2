"""Attribution methods, their combination, conflicts, and monotonicity (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import DEFAULT_CONFIDENCES
from app.processing.attribution import (
    CONFLICT,
    DIRECT_EMAIL,
    KEY_CREATOR,
    KEY_NAME_MATCH,
    KEY_OWNER_MAPPING,
    Evidence,
    KeyInfo,
    build_directory,
    combine,
)

C = DEFAULT_CONFIDENCES
DIRECTORY = build_directory(
    confidences=C,
    users=[("user_ana", " Ana@Acme.DEV "), ("user_bo", "bo@acme.dev")],
    keys=[
        KeyInfo("key_1", "ana-laptop", "wrkspc_prod", "user_ana"),
        KeyInfo("key_2", "ci-bot", "wrkspc_prod", "user_bo"),
        KeyInfo("key_legacy", "legacy", None, None),
        KeyInfo("key_dup_a", "shared", None, "user_ana"),
        KeyInfo("key_dup_b", "shared", None, "user_bo"),
        KeyInfo("key_gone", "gone", None, "user_deleted"),
    ],
    owners=[
        ("key_legacy", None, "Team-Lead@acme.dev"),
        (None, "ci-bot", "bo@acme.dev"),
        ("key_1", None, "someone.else@acme.dev"),
    ],
)


def test_direct_email_is_normalised_and_certain() -> None:
    attribution = DIRECTORY.direct("  Ana@Acme.DEV")
    assert (attribution.email, attribution.method, attribution.confidence) == (
        "ana@acme.dev", DIRECT_EMAIL, Decimal("1.00"),
    )  # fmt: skip


def test_owner_mapping_by_key_id() -> None:
    attribution = DIRECTORY.by_key_id("key_legacy")
    assert (attribution.email, attribution.method, attribution.confidence) == (
        "team-lead@acme.dev", KEY_OWNER_MAPPING, Decimal("0.95"),
    )  # fmt: skip


def test_key_creator_resolved_through_the_users_list() -> None:
    attribution = build_directory(
        confidences=C,
        users=[("user_ana", "ana@acme.dev")],
        keys=[KeyInfo("k", None, None, "user_ana")],
    ).by_key_id("k")
    assert (attribution.email, attribution.method, attribution.confidence) == (
        "ana@acme.dev", KEY_CREATOR, Decimal("0.80"),
    )  # fmt: skip


def test_owner_mapping_and_creator_agreeing_raise_confidence_capped() -> None:
    attribution = DIRECTORY.by_key_id("key_2")  # mapping by name + creator, both bo
    assert attribution.email == "bo@acme.dev"
    assert attribution.method == KEY_OWNER_MAPPING
    assert attribution.confidence == Decimal("0.99")  # 1-(0.05)(0.20)=0.99, capped at 0.99


def test_disagreeing_methods_strongest_wins_halved_recorded_as_conflict() -> None:
    attribution = DIRECTORY.by_key_id("key_1")  # mapping says someone.else, creator says ana
    assert attribution.email == "someone.else@acme.dev"
    assert attribution.method == CONFLICT
    assert attribution.confidence == Decimal("0.47")  # 0.95 / 2, floored to the cent


def test_api_actor_key_name_that_resolves_to_exactly_one_key() -> None:
    attribution = build_directory(
        confidences=C, users=[("u", "ana@acme.dev")], keys=[KeyInfo("k", "laptop", None, "u")]
    ).by_key_name("laptop")
    assert (attribution.email, attribution.method, attribution.confidence) == (
        "ana@acme.dev", KEY_NAME_MATCH, Decimal("0.70"),
    )  # fmt: skip


def test_api_actor_with_an_ambiguous_key_name_is_unattributed() -> None:
    attribution = DIRECTORY.by_key_name("shared")
    assert (attribution.email, attribution.method, attribution.confidence) == (
        None, "unattributed", Decimal("0.00"),
    )  # fmt: skip


@pytest.mark.parametrize("key", [None, "key_unknown", "key_gone"])
def test_nothing_resolves_means_unattributed_not_dropped(key: str | None) -> None:
    attribution = DIRECTORY.by_key_id(key)
    assert (attribution.email, attribution.method, attribution.confidence) == (
        None, "unattributed", Decimal("0.00"),
    )  # fmt: skip


def test_confidences_can_be_overridden() -> None:
    custom = {**C, KEY_CREATOR: Decimal("0.60")}
    directory = build_directory(
        confidences=custom, users=[("u", "a@b.co")], keys=[KeyInfo("k", None, None, "u")]
    )
    assert directory.by_key_id("k").confidence == Decimal("0.60")


METHODS = st.sampled_from([DIRECT_EMAIL, KEY_OWNER_MAPPING, KEY_CREATOR, KEY_NAME_MATCH])
EMAILS = st.sampled_from(["a@x.dev", "b@x.dev", "c@x.dev"])
EVIDENCE = st.lists(st.builds(Evidence, METHODS, EMAILS), max_size=6)


@given(evidence=EVIDENCE, extra=METHODS)
def test_more_agreeing_evidence_never_lowers_confidence(
    evidence: list[Evidence], extra: str
) -> None:
    before = combine(evidence, C)
    if before.email is None:
        return
    after = combine([*evidence, Evidence(extra, before.email)], C)
    assert after.email == before.email
    assert after.confidence >= before.confidence


@given(evidence=EVIDENCE)
def test_confidence_is_a_two_decimal_number_in_range_and_order_free(
    evidence: list[Evidence],
) -> None:
    result = combine(evidence, C)
    assert Decimal(0) <= result.confidence <= Decimal(1)
    assert result.confidence == result.confidence.quantize(Decimal("0.01"))
    assert combine(list(reversed(evidence)), C) == result
    if result.confidence == 1:
        assert any(item.method == DIRECT_EMAIL for item in evidence)
