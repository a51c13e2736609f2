"""Who a row belongs to, by which method, and how sure we are (0.00–1.00).

Evidence comes from independent methods (see the README table). Agreeing methods raise
confidence as 1 − Π(1 − cᵢ), capped at 0.99 unless the upstream named the person (their email
or their own account id).
Disagreeing methods: the strongest email wins, its confidence is halved, and the method is
recorded as `conflict`. Nothing resolving → `unattributed`, email null, confidence 0; the row
is still written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any, TypeVar

from app.processing.emails import normalize_email

T = TypeVar("T")
R = TypeVar("R")

DIRECT_EMAIL = "direct_email"
ACCOUNT_ID = "account_id"
KEY_OWNER_MAPPING = "key_owner_mapping"
KEY_CREATOR = "key_creator"
KEY_NAME_MATCH = "key_name_match"
SERVICE_ACCOUNT = "service_account"
UNATTRIBUTED = "unattributed"
CONFLICT = "conflict"
# A login (GitHub's) resolved to an address: an operator's mapping, the organisation's SAML/SCIM
# identity, an address on its verified domains, the profile's public address.
LOGIN_MAPPING = "login_mapping"
SAML_IDENTITY = "saml_identity"
VERIFIED_DOMAIN_EMAIL = "verified_domain_email"
PUBLIC_EMAIL = "public_email"

# Strongest first: breaks ties between equally confident candidates deterministically.
METHOD_RANK = (
    DIRECT_EMAIL, ACCOUNT_ID, KEY_OWNER_MAPPING, LOGIN_MAPPING, SAML_IDENTITY,
    VERIFIED_DOMAIN_EMAIL, KEY_CREATOR, KEY_NAME_MATCH, PUBLIC_EMAIL,
)  # fmt: skip
# The upstream named the person (their email, or their own account's id): no cap applies.
NAMES_THE_PERSON = frozenset((DIRECT_EMAIL, ACCOUNT_ID))
AGREEMENT_CAP = Decimal("0.99")
# Each method's confidence unless ATTRIBUTION_CONFIDENCES overrides it.
DEFAULT_CONFIDENCES: dict[str, Decimal] = {
    DIRECT_EMAIL: Decimal("1.00"),
    ACCOUNT_ID: Decimal("1.00"),
    KEY_OWNER_MAPPING: Decimal("0.95"),
    KEY_CREATOR: Decimal("0.80"),
    KEY_NAME_MATCH: Decimal("0.70"),
    SERVICE_ACCOUNT: Decimal("1.00"),
    LOGIN_MAPPING: Decimal("0.95"),
    SAML_IDENTITY: Decimal("0.95"),
    VERIFIED_DOMAIN_EMAIL: Decimal("0.90"),
    PUBLIC_EMAIL: Decimal("0.50"),
    UNATTRIBUTED: Decimal("0.00"),
}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Evidence:
    method: str
    email: str


@dataclass(frozen=True)
class Attribution:
    email: str | None
    method: str
    confidence: Decimal


def _agreement(methods: Iterable[str], confidences: Mapping[str, Decimal]) -> Decimal:
    distinct = set(methods)
    doubt = Decimal(1)
    for method in distinct:
        doubt *= Decimal(1) - confidences[method]
    combined = Decimal(1) - doubt
    if not distinct & NAMES_THE_PERSON:
        combined = min(combined, AGREEMENT_CAP)
    return combined


def _strongest(methods: Iterable[str]) -> str:
    return min(methods, key=METHOD_RANK.index)


def combine(evidence: Iterable[Evidence], confidences: Mapping[str, Decimal]) -> Attribution:
    """Fold evidence into one attribution (pure; order of evidence does not matter)."""
    by_email: dict[str, set[str]] = defaultdict(set)
    for item in evidence:
        by_email[item.email].add(item.method)
    if not by_email:
        return Attribution(None, UNATTRIBUTED, confidences[UNATTRIBUTED])
    scored = sorted(
        (
            (_agreement(methods, confidences), -METHOD_RANK.index(_strongest(methods)), email)
            for email, methods in by_email.items()
        ),
        reverse=True,
    )
    confidence, _, email = scored[0]
    if len(scored) == 1:
        method = _strongest(by_email[email])
    else:
        confidence, method = confidence / 2, CONFLICT
    return Attribution(email, method, confidence.quantize(CENT, rounding=ROUND_FLOOR))


@dataclass(frozen=True)
class SeenUser:
    """A user as an upstream showed them."""

    user_id: str
    email: str | None  # normalized; None: the upstream did not say (a deleted user)
    name: str | None = None


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str | None
    workspace_id: str | None
    # The user the key acts as (principal) or, failing that, who created it.
    owner_user_id: str | None
    # Every name the key has had (its current one included): a renamed key is still found.
    names: tuple[str, ...] = ()
    # The first day Claude Code analytics named it as an `api_actor` (None: never).
    claude_code_since: date | None = None


@dataclass(frozen=True)
class AttributionDirectory:
    """Lookups for attribution, built once per run from the directory history (every user
    and key the upstreams ever showed, merged with this run's lists) and the owner mapping."""

    confidences: Mapping[str, Decimal]
    user_emails: Mapping[str, str] = field(default_factory=dict)  # user id → email
    keys: Mapping[str, KeyInfo] = field(default_factory=dict)
    owners_by_key_id: Mapping[str, str] = field(default_factory=dict)
    owners_by_key_name: Mapping[str, str] = field(default_factory=dict)
    # Answers already worked out: the lookups are pure, and a 30-day window asks the same
    # ones for every day of every person (255,000 Cursor rows, 8,500 people). One dict per
    # kind of lookup, keyed by the argument alone: no key tuple is built per lookup, and none
    # is kept per answer (kept objects made amid a page's pin its memory blocks).
    _memo: defaultdict[str, dict[Any, Any]] = field(
        default_factory=lambda: defaultdict(dict), init=False, compare=False, repr=False
    )

    def _remembered(self, kind: str, argument: T, compute: Callable[[T], R]) -> R:
        answers = self._memo[kind]
        try:
            found: R = answers[argument]
        except KeyError:
            found = answers[argument] = compute(argument)
        return found

    def key_ids_named(self, name: str) -> list[str]:
        """Keys that have ever had `name`: a name that moved between keys is ambiguous."""
        return [key.id for key in self.keys.values() if name in key.names or key.name == name]

    def key_named(self, name: str | None) -> KeyInfo | None:
        """The one key ever named `name` (None: no key, or several)."""
        return self._remembered("key_named", name, self._key_named)

    def _key_named(self, name: str | None) -> KeyInfo | None:
        matches = self.key_ids_named(name) if name else []
        return self.keys[matches[0]] if len(matches) == 1 else None

    def by_account(self, account_id: str) -> Attribution:
        """OAuth messages rows: the upstream names the person's own account (`user_…`)."""
        return self._remembered("by_account", account_id, self._by_account)

    def _by_account(self, account_id: str) -> Attribution:
        email = self.user_emails.get(account_id)
        evidence = [Evidence(ACCOUNT_ID, email)] if email else []
        return combine(evidence, self.confidences)

    def person(self, email: str | None, user_id: str | None) -> Attribution:
        """Rows naming a person by email, by user id, or both (a deleted Enterprise user
        keeps only the id, resolved through the users remembered)."""
        if normalize_email(email):
            return self.direct(email)
        if user_id:
            return self.by_account(user_id)
        return combine([], self.confidences)

    def service_account(self) -> Attribution:
        """A service account (OIDC federation): no person, but known, not `unattributed`."""
        return Attribution(None, SERVICE_ACCOUNT, self.confidences[SERVICE_ACCOUNT])

    def direct(self, email: str | None) -> Attribution:
        return self._remembered("direct", email, self._direct)

    def _direct(self, email: str | None) -> Attribution:
        normalized = normalize_email(email)
        evidence = [Evidence(DIRECT_EMAIL, normalized)] if normalized else []
        return combine(evidence, self.confidences)

    def _key_evidence(self, key_id: str, creator_method: str) -> list[Evidence]:
        evidence: list[Evidence] = []
        if owner := self.owners_by_key_id.get(key_id):
            evidence.append(Evidence(KEY_OWNER_MAPPING, owner))
        key = self.keys.get(key_id)
        if key is None:
            return evidence
        for name in sorted({*key.names, *([key.name] if key.name else [])}):
            if owner := self.owners_by_key_name.get(name):
                evidence.append(Evidence(KEY_OWNER_MAPPING, owner))
        if key.owner_user_id and (email := self.user_emails.get(key.owner_user_id)):
            evidence.append(Evidence(creator_method, email))
        return evidence

    def by_key_id(self, key_id: str | None) -> Attribution:
        """Messages-usage rows: the key's owner mapping and its creator."""
        return self._remembered("by_key_id", key_id, self._by_key_id)

    def _by_key_id(self, key_id: str | None) -> Attribution:
        evidence = self._key_evidence(key_id, KEY_CREATOR) if key_id else []
        return combine(evidence, self.confidences)

    def by_key_name(self, name: str | None) -> Attribution:
        """Claude Code `api_actor` rows: only the key's name is known."""
        return self._remembered("by_key_name", name, self._by_key_name)

    def _by_key_name(self, name: str | None) -> Attribution:
        if not name:
            return combine([], self.confidences)
        evidence: list[Evidence] = []
        if owner := self.owners_by_key_name.get(name):
            evidence.append(Evidence(KEY_OWNER_MAPPING, owner))
        if key := self.key_named(name):
            evidence.extend(self._key_evidence(key.id, KEY_NAME_MATCH))
        return combine(evidence, self.confidences)


def build_directory(
    *,
    confidences: Mapping[str, Decimal],
    users: Iterable[tuple[str, str]] = (),
    keys: Iterable[KeyInfo] = (),
    owners: Iterable[tuple[str | None, str | None, str]] = (),
) -> AttributionDirectory:
    """`users`: (user id, email); `owners`: (api key id, key name, owner email)."""
    by_id: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for key_id, key_name, raw_email in owners:
        normalized = normalize_email(raw_email)
        if normalized is None:
            continue
        if key_id:
            by_id[key_id] = normalized
        elif key_name:
            by_name[key_name] = normalized
    return AttributionDirectory(
        confidences=confidences,
        user_emails={
            user_id: normalized
            for user_id, raw in users
            if (normalized := normalize_email(raw)) is not None
        },
        keys={key.id: key for key in keys},
        owners_by_key_id=by_id,
        owners_by_key_name=by_name,
    )
