"""The seams hold (ARCHITECTURE.md): SQL lives in db/, nothing outside db/ touches a table object, the domain is
pure, the runtime never imports the development package, and no reviewqueue module imports itself back through
another — at module level or hidden inside a function."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("reviewqueue", "connectors", "ui", "models")
# what a service may take from SQLAlchemy: the Connection type and its exceptions, never a statement builder
SERVICE_SQLALCHEMY = {"sqlalchemy.engine", "sqlalchemy.exc"}


def _modules(package: str) -> dict[str, Path]:
    base = ROOT / package
    found = {}
    for path in sorted(base.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import, inside functions too, except those only a type checker runs."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules ``module`` imports: ``from pkg import name`` counts as ``pkg.name`` when that is a module."""
    out: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        out.add(base)
        out.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {name: path for package in RUNTIME for name, path in _modules(package).items()}
    known = set(modules)
    return {name: _imported(name, path, known) & known for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_even_inside_functions() -> None:
    graph = _graph()
    assert len(graph) > 60  # the walk found the runtime
    # a package's __init__ re-exporting its submodules is not a cycle of use: leave those edges out
    edges = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    assert _cycles(edges) == []


def test_the_runtime_never_imports_the_development_package() -> None:
    offending = sorted(name for package in RUNTIME for name, path in _modules(package).items()
                       if any(i.split(".")[0] == "reviewqueue_dev" for i in _imported(name, path, set())))
    assert offending == []


def test_services_build_no_sql() -> None:
    offending = {}
    for name, path in _modules("reviewqueue").items():
        if not name.startswith("reviewqueue.services"):
            continue
        bad = sorted(i for i in _imported(name, path, set())
                     if i.split(".")[0] == "sqlalchemy" and i not in SERVICE_SQLALCHEMY)
        if bad:
            offending[name] = bad
    assert offending == {}


def test_only_db_touches_table_objects() -> None:
    offending = sorted(
        name for package in RUNTIME for name, path in _modules(package).items()
        if not name.startswith("reviewqueue.db") and "__table__" in path.read_text()
    )
    assert offending == []


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    offending = {}
    for name, path in _modules("reviewqueue").items():
        if not name.startswith("reviewqueue.domain"):
            continue
        bad = sorted(i for i in _imported(name, path, set())
                     if i.split(".")[0] not in sys.stdlib_module_names
                     and not i.startswith(("reviewqueue.domain", "reviewqueue.errors")) and i != "__future__")
        if bad:
            offending[name] = bad
    assert offending == {}


def test_the_walker_sees_lazy_imports_and_finds_a_cycle(tmp_path: Path) -> None:
    """A guard for the guard: an import inside a function is an edge like any other, and two modules that
    import each other that way are reported; TYPE_CHECKING-only imports are not edges."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f():\n    from pkg import b\n")
    b.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
                 "def g():\n    import pkg.a\n")
    known = {"pkg.a", "pkg.b"}
    graph = {"pkg.a": _imported("pkg.a", a, known) & known, "pkg.b": _imported("pkg.b", b, known) & known}
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]
    b.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    assert _imported("pkg.b", b, known) & known == set()
