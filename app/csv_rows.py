"""Reading an operator's CSV file whole (key owners, aliases, logins, teams) before any of it
is used: a file the csv module cannot read is the caller's error naming the line, never a
crash (an API body can be anything)."""

from __future__ import annotations

import csv
import io


def csv_rows(text: str, error: type[ValueError]) -> tuple[list[str], list[dict[str, str]]]:
    """The header (names stripped) and every row. Excel's "CSV UTF-8" starts the file with a
    byte-order mark, which is not part of the first column's name."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        rows = list(reader)
    except csv.Error as exc:
        raise error(f"line {reader.line_num}: not readable as CSV ({exc})") from None
    for line, row in enumerate(rows, start=2):
        if any("\x00" in value for value in row.values() if isinstance(value, str)):
            raise error(f"line {line}: contains a NUL character")  # no database text holds one
    return header, rows
