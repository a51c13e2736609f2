"""The layering rules of docs/architecture.md, checked on every import of `app/`.

Ingestion (clients, page models) → processing (pure functions) → repositories (SQL);
orchestration is the only hub; the API talks to orchestration and repositories only; processing
does no I/O; SQL only in `app/repositories/`; the shared mechanisms name no upstream — only the
registry lists the upstream packages. Inside an upstream package a module's role says its layer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

INGESTION, PROCESSING, REPOSITORIES, ORCHESTRATION, API, WEB, SIMULATOR, ENTRY = (
    "ingestion", "processing", "repositories", "orchestration", "api", "web", "simulator", "entry",
)  # fmt: skip
# What each layer may not import.
FORBIDDEN = {
    INGESTION: ("app.repositories", "app.orchestration", "app.api", "app.processing", "asyncpg"),
    PROCESSING: (
        "app.repositories",
        "app.orchestration",
        "app.api",
        "app.ingestion.http",
        "app.ingestion.factory",
        "app.ingestion.pagination",
        "app.ingestion.streamed",
        "asyncpg",
        "httpx",
    ),
    REPOSITORIES: ("app.orchestration", "app.api", "app.ingestion", "httpx"),
    ORCHESTRATION: ("app.api",),
    API: ("app.ingestion", "app.processing", "app.upstreams"),
    WEB: ("app.ingestion", "app.processing", "app.upstreams"),  # the dashboard: the API's layer
}
UPSTREAM_ROLES = {  # a module of app/upstreams/<name>/ by its name
    "client": INGESTION,
    "clients": INGESTION,
    "claude_ai_client": INGESTION,
    "models": INGESTION,
    "claude_ai_models": INGESTION,
    "upstream": ORCHESTRATION,
}
SQL = re.compile(
    r"\b(SELECT\s+\S+.*\bFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|TRUNCATE)\b"
)


def _role(path: Path) -> str:
    parts = path.relative_to(APP).with_suffix("").parts
    if parts[0] == "upstreams" and len(parts) > 2:
        if "simulator" in parts:
            return SIMULATOR
        if "sources" in parts:
            return ORCHESTRATION
        return UPSTREAM_ROLES.get(parts[-1], PROCESSING)
    layer = parts[0] if len(parts) > 1 else ENTRY
    return layer if layer != "upstreams" else ENTRY


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


MODULES = sorted(APP.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(APP)))
def test_every_import_runs_down_the_layers(path: Path) -> None:
    forbidden = FORBIDDEN.get(_role(path), ())
    wrong = [m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not wrong, f"{_role(path)} module imports {wrong}"


# SQL lives only in app/repositories/, so the writers of the built-in tables whose rows two
# sources share (Cursor) or that predate declared tables (Claude) are there, naming their rows.
BUILT_IN_TABLE_WRITERS = ("repositories/facts.py", "repositories/cursor_window.py")


def test_only_the_registry_names_upstream_packages_among_shared_mechanisms() -> None:
    shared = [
        path
        for path in MODULES
        if path.relative_to(APP).parts[0] != "upstreams"
        and "simulator" not in path.parts
        and path.name != "registry.py"
        and str(path.relative_to(APP)) not in BUILT_IN_TABLE_WRITERS
    ]
    naming = {
        str(path.relative_to(APP)): [m for m in _imports(path) if m.startswith("app.upstreams")]
        for path in shared
    }
    assert not {path: found for path, found in naming.items() if found}


def test_sql_only_in_the_repositories() -> None:
    outside = [
        path
        for path in MODULES
        if _role(path) not in (REPOSITORIES, SIMULATOR) and path.name != "settings_docs.py"
    ]
    found = {}
    for path in outside:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL.search(node.value)
            ):
                found[str(path.relative_to(APP))] = node.value[:60]
    assert not found


def test_the_roles_are_known() -> None:
    """Each layer this test checks has modules, so a rename cannot empty a rule silently."""
    roles = {_role(path) for path in MODULES}
    assert {INGESTION, PROCESSING, REPOSITORIES, ORCHESTRATION, API, WEB, SIMULATOR} <= roles
