"""CSV formats of the people files (`usage-pipeline people import-aliases|import-logins …`,
`usage-pipeline teams import …`).

Aliases — columns alias_email, person_email, note (header required): an alias maps one more
address to a person, so `ai_usage_by_person_day` counts their usage under one person across
accounts and tools.

Logins — columns service, login, email, note: who a login of a service that names people by
login is (`github` for Copilot), when its own identities (SAML, verified domains) do not say.

Teams — columns email, team, effective_from, note: the person's team from that day on (empty:
always); a later row for the same person is a move, so history stays right.

The whole file is validated first; the first problem is reported with its line number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date

from app.csv_rows import csv_rows
from app.processing.emails import normalize_email
from app.repositories.alerts import TEAM_COLUMNS, TeamMember
from app.repositories.people import Alias, Login

COLUMNS = ("alias_email", "person_email", "note")
LOGIN_COLUMNS = ("service", "login", "email", "note")
SERVICE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,98})$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AliasFileError(ValueError):
    pass


def parse_aliases(text: str) -> list[Alias]:
    reader = _read(text, COLUMNS, {"alias_email", "person_email"})
    listed: dict[str, Alias] = {}
    for line, raw in enumerate(reader, start=2):
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        alias, person = (
            normalize_email(row.get("alias_email")),
            normalize_email(row.get("person_email")),
        )
        for name, value in (("alias_email", alias), ("person_email", person)):
            if value is None or not EMAIL.match(value):
                raise AliasFileError(f"line {line}: invalid {name} {row.get(name)!r}")
        assert alias is not None and person is not None
        if alias == person:
            raise AliasFileError(f"line {line}: {alias} is an alias of itself")
        if alias in listed:
            raise AliasFileError(f"line {line}: duplicate alias_email {alias}")
        listed[alias] = Alias(alias, person, row.get("note") or None)
    if chained := sorted(a.alias_email for a in listed.values() if a.person_email in listed):
        raise AliasFileError(
            f"{chained[0]} points at an address that is itself an alias; point it at the person"
        )
    return list(listed.values())


def _format(columns: tuple[str, ...], rows: Iterable[Iterable[str | None]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell or "" for cell in row])
    return out.getvalue()


def format_aliases(aliases: Iterable[Alias]) -> str:
    return _format(COLUMNS, ((a.alias_email, a.person_email, a.note) for a in aliases))


def _read(text: str, columns: tuple[str, ...], required: set[str]) -> list[dict[str, str]]:
    header, rows = csv_rows(text, AliasFileError)
    if unknown := [name for name in header if name not in columns]:
        raise AliasFileError(
            f"line 1: unknown column(s) {', '.join(unknown)}; expected {', '.join(columns)}"
        )
    if not required <= set(header):
        raise AliasFileError(f"line 1: need {', '.join(sorted(required))}")
    return rows


def parse_logins(text: str) -> list[Login]:
    listed: dict[tuple[str, str], Login] = {}
    reader = _read(text, LOGIN_COLUMNS, {"service", "login", "email"})
    for line, raw in enumerate(reader, start=2):
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        service, login = row.get("service", "").lower(), row.get("login", "")
        email = normalize_email(row.get("email"))
        if not SERVICE.match(service):
            raise AliasFileError(f"line {line}: invalid service {row.get('service')!r}")
        if not LOGIN.match(login):
            raise AliasFileError(f"line {line}: invalid login {login!r}")
        if email is None or not EMAIL.match(email):
            raise AliasFileError(f"line {line}: invalid email {row.get('email')!r}")
        key = (service, login.lower())
        if key in listed:
            raise AliasFileError(f"line {line}: duplicate login {login} of {service}")
        listed[key] = Login(service, login, email, row.get("note") or None)
    return list(listed.values())


def format_logins(logins: Iterable[Login]) -> str:
    return _format(LOGIN_COLUMNS, ((i.service, i.login, i.email, i.note) for i in logins))


ALWAYS = date(1970, 1, 1)  # a team without `effective_from`: since before any data
TEAM = re.compile(r"^\S(?:.{0,98}\S)?$")


def parse_teams(text: str) -> list[TeamMember]:
    """Columns email, team, effective_from (YYYY-MM-DD; empty: since always), note."""
    listed: dict[tuple[str, date], TeamMember] = {}
    reader = _read(text, TEAM_COLUMNS, {"email", "team"})
    for line, raw in enumerate(reader, start=2):
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        email, team = normalize_email(row.get("email")), row.get("team", "")
        if email is None or not EMAIL.match(email):
            raise AliasFileError(f"line {line}: invalid email {row.get('email')!r}")
        if not TEAM.match(team):
            raise AliasFileError(f"line {line}: invalid team {team!r}")
        try:
            since = (
                date.fromisoformat(row["effective_from"]) if row.get("effective_from") else ALWAYS
            )
        except ValueError:
            raise AliasFileError(
                f"line {line}: invalid effective_from {row.get('effective_from')!r} (YYYY-MM-DD)"
            ) from None
        if (email, since) in listed:
            raise AliasFileError(f"line {line}: {email} is listed twice from {since}")
        listed[(email, since)] = TeamMember(email, team, since, row.get("note") or None)
    return list(listed.values())


def format_teams(members: Iterable[TeamMember]) -> str:
    return _format(
        TEAM_COLUMNS,
        ((m.email, m.team, "" if m.effective_from == ALWAYS else str(m.effective_from), m.note)
         for m in members),
    )  # fmt: skip
