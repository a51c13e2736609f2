"""CSV format of the people aliases (`usage-pipeline people import-aliases …`).

Columns: alias_email, person_email, note (header required). An alias maps one more address to a
person, so `ai_usage_by_person_day` counts their usage under one person across accounts and
tools. The whole file is validated first; the first problem is reported with its line number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from app.processing.emails import normalize_email
from app.repositories.people import Alias

COLUMNS = ("alias_email", "person_email", "note")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AliasFileError(ValueError):
    pass


def parse_aliases(text: str) -> list[Alias]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    if unknown := [name for name in header if name not in COLUMNS]:
        raise AliasFileError(
            f"line 1: unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}"
        )
    if not {"alias_email", "person_email"} <= set(header):
        raise AliasFileError("line 1: need alias_email and person_email")
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


def format_aliases(aliases: Iterable[Alias]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for alias in aliases:
        writer.writerow([alias.alias_email, alias.person_email, alias.note or ""])
    return out.getvalue()
