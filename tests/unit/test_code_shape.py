"""Small units (docs/architecture.md, "Rules"): modules of at most 400 lines (the simulator's
600), functions of at most 60, few `Any` outside the simulator, and no `type: ignore` where a
page is decoded or a fact is built."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
MODULES = sorted(APP.rglob("*.py"))
MAX_ANY = 20
PAGE_BOUNDARIES = ("ingestion", "upstreams")  # page decoding, clients, transforms, facts


def _in_simulator(path: Path) -> bool:
    return "simulator" in path.relative_to(APP).parts


def test_modules_are_small() -> None:
    too_long = {
        str(path.relative_to(APP)): lines
        for path in MODULES
        if (lines := len(path.read_text().splitlines())) > (600 if _in_simulator(path) else 400)
    }
    assert not too_long


def test_functions_are_short() -> None:
    too_long = {
        f"{path.relative_to(APP)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    }
    assert not too_long


def test_any_is_rare_outside_the_simulator() -> None:
    uses = {
        str(path.relative_to(APP)): count
        for path in MODULES
        if not _in_simulator(path)
        and (
            count := sum(
                1
                for node in ast.walk(ast.parse(path.read_text()))
                if (isinstance(node, ast.Name) and node.id == "Any")
                or (isinstance(node, ast.Attribute) and node.attr == "Any")
            )
        )
    }
    assert sum(uses.values()) <= MAX_ANY, uses


def test_no_type_ignore_where_pages_become_facts() -> None:
    ignored = [
        f"{path.relative_to(APP)}:{number}"
        for path in MODULES
        if path.relative_to(APP).parts[0] in PAGE_BOUNDARIES and not _in_simulator(path)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "type: ignore" in line
    ]
    assert not ignored
