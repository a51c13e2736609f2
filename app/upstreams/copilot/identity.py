"""Who a GitHub login is: an address from every way GitHub (or the operator) says it, folded
by the shared attribution rules (pure functions).

GitHub's reports and bills name a user by id and login, never by address. The evidence, best
first: the operator's login → email mapping (`usage-pipeline people import-logins`), the
organisation's or enterprise's SAML/SCIM identity of the user, the one address the user holds
on the organisation's verified domains, and the profile's public address (seats list it; often
personal, so weak). Agreeing sources raise confidence, disagreeing ones are a `conflict`, none
is `unattributed` — the row is kept with its login either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from app.processing.attribution import (
    LOGIN_MAPPING,
    PUBLIC_EMAIL,
    SAML_IDENTITY,
    VERIFIED_DOMAIN_EMAIL,
    Attribution,
    Evidence,
    combine,
)
from app.processing.emails import normalize_email
from app.upstreams.copilot.models import ExternalIdentity, Member, Seat

LOGIN_SERVICE = "github"  # the `service` of `person_logins` rows this package reads


@dataclass(frozen=True)
class LoginEvidence:
    """One source's word on a GitHub user: by id (stable) and/or login (renamable)."""

    user_id: int | None
    login: str | None
    email: str
    method: str


def _address(value: str | None) -> str | None:
    email = normalize_email(value)
    return email if email is not None and "@" in email else None


def saml_evidence(identities: Iterable[ExternalIdentity]) -> list[LoginEvidence]:
    """A linked identity's NameID when it is an address (IdP-defined, usually the corporate
    one), else the identity's first address (SAML's, then SCIM's)."""
    found = []
    for identity in identities:
        user = identity.user
        if user is None or (user.databaseId is None and not user.login):
            continue
        candidates: list[str | None] = []
        if identity.samlIdentity is not None:
            candidates.append(identity.samlIdentity.nameId)
            candidates += [e.value for e in identity.samlIdentity.emails or []]
        if identity.scimIdentity is not None:
            candidates.append(identity.scimIdentity.username)
            candidates += [e.value for e in identity.scimIdentity.emails or []]
        email = next((a for c in candidates if (a := _address(c)) is not None), None)
        if email is not None:
            found.append(LoginEvidence(user.databaseId, user.login, email, SAML_IDENTITY))
    return found


def verified_evidence(members: Iterable[Member]) -> list[LoginEvidence]:
    """A member's address on the verified domains, when they hold exactly one there."""
    found = []
    for member in members:
        addresses = {a for v in member.organizationVerifiedDomainEmails or [] if (a := _address(v))}
        if len(addresses) == 1 and (member.databaseId is not None or member.login):
            (email,) = addresses
            found.append(
                LoginEvidence(member.databaseId, member.login, email, VERIFIED_DOMAIN_EMAIL)
            )
    return found


def mapping_evidence(mapping: Iterable[tuple[str, str]]) -> list[LoginEvidence]:
    """The operator's (login, email) pairs."""
    return [
        LoginEvidence(None, login, email, LOGIN_MAPPING)
        for login, raw in mapping
        if (email := _address(raw)) is not None
    ]


def public_evidence(seats: Iterable[Seat]) -> list[LoginEvidence]:
    return [
        LoginEvidence(seat.assignee.id, seat.assignee.login, email, PUBLIC_EMAIL)
        for seat in seats
        if seat.assignee is not None
        and seat.assignee.is_person
        and (email := _address(seat.assignee.email)) is not None
    ]


@dataclass
class LoginDirectory:
    """Every piece of evidence, by user id and by (case-insensitive) login."""

    confidences: Mapping[str, Decimal]
    evidence: Iterable[LoginEvidence] = ()
    _by_id: dict[int, list[LoginEvidence]] = field(default_factory=dict, init=False)
    _by_login: dict[str, list[LoginEvidence]] = field(default_factory=dict, init=False)
    _memo: dict[tuple[int | None, str | None], Attribution] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        for item in self.evidence:
            if item.user_id is not None:
                self._by_id.setdefault(item.user_id, []).append(item)
            if item.login:
                self._by_login.setdefault(item.login.lower(), []).append(item)

    def person(self, user_id: int | None, login: str | None) -> Attribution:
        key = (user_id, login.lower() if login else None)
        if key not in self._memo:
            found = {
                *(self._by_id.get(user_id, []) if user_id is not None else []),
                *(self._by_login.get(key[1], []) if key[1] else []),
            }
            self._memo[key] = combine(
                (Evidence(item.method, item.email) for item in found), self.confidences
            )
        return self._memo[key]
