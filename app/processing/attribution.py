"""Who a row belongs to, by which method, and how sure we are (0.00–1.00).

Evidence comes from independent methods (see the README table). Agreeing methods raise
confidence as 1 − Π(1 − cᵢ), capped at 0.99 unless the person's email was named directly.
Disagreeing methods: the strongest email wins, its confidence is halved, and the method is
recorded as `conflict`. Nothing resolving → `unattributed`, email null, confidence 0; the row
is still written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from app.processing.emails import normalize_email

DIRECT_EMAIL = "direct_email"
KEY_OWNER_MAPPING = "key_owner_mapping"
KEY_CREATOR = "key_creator"
KEY_NAME_MATCH = "key_name_match"
UNATTRIBUTED = "unattributed"
CONFLICT = "conflict"

# Strongest first: breaks ties between equally confident candidates deterministically.
METHOD_RANK = (DIRECT_EMAIL, KEY_OWNER_MAPPING, KEY_CREATOR, KEY_NAME_MATCH)
AGREEMENT_CAP = Decimal("0.99")
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
    if DIRECT_EMAIL not in distinct:
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
class KeyInfo:
    id: str
    name: str | None
    workspace_id: str | None
    # The user the key acts as (principal) or, failing that, who created it.
    owner_user_id: str | None


@dataclass(frozen=True)
class AttributionDirectory:
    """Lookups for attribution, built once per run from the upstream lists and our tables."""

    confidences: Mapping[str, Decimal]
    user_emails: Mapping[str, str] = field(default_factory=dict)  # user id → email
    keys: Mapping[str, KeyInfo] = field(default_factory=dict)
    owners_by_key_id: Mapping[str, str] = field(default_factory=dict)
    owners_by_key_name: Mapping[str, str] = field(default_factory=dict)

    def key_ids_named(self, name: str) -> list[str]:
        return [key.id for key in self.keys.values() if key.name == name]

    def direct(self, email: str | None) -> Attribution:
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
        if key.name and (owner := self.owners_by_key_name.get(key.name)):
            evidence.append(Evidence(KEY_OWNER_MAPPING, owner))
        if key.owner_user_id and (email := self.user_emails.get(key.owner_user_id)):
            evidence.append(Evidence(creator_method, email))
        return evidence

    def by_key_id(self, key_id: str | None) -> Attribution:
        """Messages-usage rows: the key's owner mapping and its creator."""
        evidence = self._key_evidence(key_id, KEY_CREATOR) if key_id else []
        return combine(evidence, self.confidences)

    def by_key_name(self, name: str | None) -> Attribution:
        """Claude Code `api_actor` rows: only the key's name is known."""
        if not name:
            return combine([], self.confidences)
        evidence: list[Evidence] = []
        if owner := self.owners_by_key_name.get(name):
            evidence.append(Evidence(KEY_OWNER_MAPPING, owner))
        matches = self.key_ids_named(name)
        if len(matches) == 1:
            evidence.extend(self._key_evidence(matches[0], KEY_NAME_MATCH))
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
