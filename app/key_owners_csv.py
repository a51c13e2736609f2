"""CSV format of the admin-maintained key-owner mapping (`usage-pipeline key-owners …`).

Columns: api_key_id, key_name, owner_email, note, account (header required; api_key_id or
key_name per row; account, the organisation whose key it is, defaults to `default`). The
whole file is validated before anything is written; the first problem is reported with its
line number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from app.accounts import ACCOUNT_NAME, DEFAULT_ACCOUNT
from app.csv_rows import csv_rows
from app.processing.emails import normalize_email
from app.repositories.directory import KeyOwner

COLUMNS = ("api_key_id", "key_name", "owner_email", "note", "account")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class KeyOwnersFileError(ValueError):
    pass


# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection):
# exported with a leading apostrophe, which they show as text. Import strips it again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def parse_key_owners(text: str) -> list[KeyOwner]:
    header, rows = csv_rows(text, KeyOwnersFileError)
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise KeyOwnersFileError(
            f"line 1: unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}"
        )
    if "owner_email" not in header or not {"api_key_id", "key_name"} & set(header):
        raise KeyOwnersFileError("line 1: need owner_email and api_key_id and/or key_name")
    owners: list[KeyOwner] = []
    seen: set[tuple[str, str, str]] = set()
    for line, raw in enumerate(rows, start=2):
        row = {key.strip(): _unescaped((value or "").strip()) for key, value in raw.items() if key}
        key_id, name = row.get("api_key_id") or None, row.get("key_name") or None
        email = normalize_email(row.get("owner_email"))
        if key_id is None and name is None:
            raise KeyOwnersFileError(f"line {line}: api_key_id or key_name is required")
        if email is None or not EMAIL.match(email):
            raise KeyOwnersFileError(f"line {line}: invalid owner_email {row.get('owner_email')!r}")
        account = row.get("account") or DEFAULT_ACCOUNT
        if not ACCOUNT_NAME.fullmatch(account):
            raise KeyOwnersFileError(f"line {line}: invalid account {account!r}")
        identity = (account, "id", key_id) if key_id else (account, "name", str(name))
        if identity in seen:
            raise KeyOwnersFileError(
                f"line {line}: duplicate {identity[1]} {identity[2]!r} of account {account}"
            )
        seen.add(identity)
        owners.append(KeyOwner(key_id, name, email, row.get("note") or None, account))
    return owners


def _escaped(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _unescaped(cell: str) -> str:
    """What `_escaped` wrote, read back: an apostrophe before a formula start is ours."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def format_key_owners(owners: Iterable[KeyOwner]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for owner in owners:
        cells = (
            owner.api_key_id or "", owner.key_name or "", owner.owner_email, owner.note or "",
            owner.account,
        )  # fmt: skip
        writer.writerow([_escaped(cell) for cell in cells])
    return out.getvalue()
