"""ui/ reaches reviewqueue only through the typed client, its schemas, its errors and Settings (DESIGN: thin edges;
Settings is the only reader of REVIEWQUEUE_* variables, the UI's included)."""

from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "ui"
ALLOWED = {"reviewqueue.client", "reviewqueue.schemas", "reviewqueue.errors", "reviewqueue.settings"}
GUARDED = {"reviewqueue", "connectors", "models", "sqlalchemy", "sqlmodel"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{a.name}" if node.module == "reviewqueue" else node.module
                         for a in node.names)
    return names


def test_ui_imports_only_the_client_schemas_errors_and_settings() -> None:
    files = sorted(UI.rglob("*.py"))
    assert len(files) >= 9
    offending = {}
    for f in files:
        bad = sorted(n for n in _imports(f) if n.split(".")[0] in GUARDED and n not in ALLOWED)
        if bad:
            offending[str(f.relative_to(UI))] = bad
    assert offending == {}
