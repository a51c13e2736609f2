"""How the CLI prints data, for where it goes (`--output table|plain|json`).

- `table`: rich tables, coloured, fitted to the terminal (the default on a terminal);
- `plain`: aligned columns of whole values, no escape codes, never cut to a width (the default
  when standard output is a file, a pipe or a container's log);
- `json`: one JSON document on standard output (JSON lines for a stream such as a run's
  progress), money as exact decimal strings; its shapes are in docs/cli.md.

Commands build a `Sheet` (typed rows of strings) or a model and hand it here; nothing else in
the CLI decides between the three.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

import typer
from pydantic_core import to_json
from rich.console import Console
from rich.table import Table
from rich.text import Text


class OutputMode(StrEnum):
    TABLE = "table"
    PLAIN = "plain"
    JSON = "json"


OutputOption = Annotated[
    OutputMode | None,
    typer.Option(
        "--output",
        "-o",
        help="table, plain or json (default: table on a terminal, plain otherwise).",
        case_sensitive=False,
    ),
]


def resolve_mode(asked: OutputMode | None) -> OutputMode:
    """The mode asked, else `table` when standard output is a terminal and `plain` otherwise."""
    if asked is not None:
        return asked
    return OutputMode.TABLE if sys.stdout.isatty() else OutputMode.PLAIN


@dataclass(frozen=True)
class Sheet:
    """A titled table of strings; `styles` colours a cell whose whole text is a key (table
    mode only); `right` names the columns aligned right (numbers)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    styles: Mapping[str, str] = field(default_factory=dict)
    right: frozenset[str] = frozenset()
    caption: str | None = None


def rich_table(sheet: Sheet) -> Table:
    table = Table(title=sheet.title, caption=sheet.caption)
    for column in sheet.columns:
        table.add_column(column, justify="right" if column in sheet.right else "left")
    for row in sheet.rows:
        table.add_row(*(Text(cell, style=sheet.styles.get(cell, "")) for cell in row))
    return table


def plain_lines(sheet: Sheet) -> list[str]:
    """The title, the header and the rows in columns padded to their widest value: nothing
    cut, no trailing spaces, no escape codes."""
    widths = [len(column) for column in sheet.columns]
    for row in sheet.rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [sheet.title]
    for row in (sheet.columns, *sheet.rows):
        cells = [
            cell.rjust(width) if column in sheet.right else cell.ljust(width)
            for cell, width, column in zip(row, widths, sheet.columns, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if sheet.caption:
        lines.append(sheet.caption)
    return lines


class Printer:
    """Standard output in one mode: sheets, lines of text, and JSON documents or lines."""

    def __init__(self, mode: OutputMode) -> None:
        self.mode = mode
        self.console = Console(highlight=False)

    def sheet(self, sheet: Sheet) -> None:
        if self.mode is OutputMode.TABLE:
            self.console.print(rich_table(sheet))
        else:
            self.lines(plain_lines(sheet))

    def lines(self, lines: Sequence[str]) -> None:
        """Text as it is (no markup, never wrapped or cut)."""
        if self.mode is OutputMode.TABLE:
            for line in lines:
                self.console.print(line, markup=False, soft_wrap=True)
        else:
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            sys.stdout.flush()

    def document(self, value: object) -> None:
        """One JSON document (a model, a dataclass or plain values; money as strings)."""
        sys.stdout.write(to_json(value, indent=2).decode() + "\n")
        sys.stdout.flush()

    def event(self, event: str, **fields: object) -> None:
        """One JSON line of a stream: {"event": …, …}."""
        sys.stdout.write(to_json({"event": event, **fields}).decode() + "\n")
        sys.stdout.flush()
