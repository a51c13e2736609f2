"""The key-owner CSV: validated whole, with the first problem's line number."""

from __future__ import annotations

import pytest

from app.key_owners_csv import KeyOwnersFileError, format_key_owners, parse_key_owners
from app.repositories.directory import KeyOwner


def test_round_trip_normalises_emails() -> None:
    text = "api_key_id,key_name,owner_email,note\napikey_1,,Ana@Acme.dev ,laptop\n,ci-bot,bo@acme.dev,\n"
    owners = parse_key_owners(text)
    assert owners == [
        KeyOwner("apikey_1", None, "ana@acme.dev", "laptop"),
        KeyOwner(None, "ci-bot", "bo@acme.dev", None),
    ]
    assert parse_key_owners(format_key_owners(owners)) == owners


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api_key_id,owner,owner_email\n", "line 1: unknown column(s) owner"),
        ("api_key_id,key_name\n", "line 1: need owner_email"),
        ("api_key_id,owner_email\nk1,not-an-email\n", "line 2: invalid owner_email 'not-an-email'"),
        (
            "api_key_id,owner_email\nk1,a@b.co\n,c@d.co\n",
            "line 3: api_key_id or key_name is required",
        ),
        ("api_key_id,owner_email\nk1,a@b.co\nk1,c@d.co\n", "line 3: duplicate id 'k1'"),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(KeyOwnersFileError) as caught:
        parse_key_owners(text)
    assert str(caught.value).startswith(message)


def test_excel_utf8_bom_is_accepted() -> None:
    text = "\ufeffapi_key_id,key_name,owner_email,note\napikey_1,,ana@example.com,\n"
    [owner] = parse_key_owners(text)
    assert (owner.api_key_id, owner.owner_email) == ("apikey_1", "ana@example.com")


def test_formula_cells_are_neutralised_on_export_and_read_back_as_sent() -> None:
    owners = [
        KeyOwner("apikey_1", '=HYPERLINK("http://x")', "ana@example.com", "+1 team"),
        KeyOwner(None, "@SUM(A1)", "bo@example.com", "-note"),
        KeyOwner(None, "plain-name", "cy@example.com", None),
    ]
    exported = format_key_owners(owners)
    rows = exported.splitlines()[1:]
    assert rows[0].startswith("apikey_1,\"'=HYPERLINK(")
    assert ",'+1 team" in rows[0]
    assert rows[1] == ",'@SUM(A1),bo@example.com,'-note,default"
    assert rows[2] == ",plain-name,cy@example.com,,default"
    assert parse_key_owners(exported) == owners
