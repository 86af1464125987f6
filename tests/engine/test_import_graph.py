"""The engine's modules form layers: no import cycle in ``panohead/``, and the engine never imports the viewer.

The graph is read from the source with ``ast`` (nothing is imported): every ``import`` counts,
at module level or inside a function (a deferred import that closes a cycle is still a cycle in
the design), except those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, name: str) -> set[str]:
    """Dotted names ``path`` (module ``name``) imports, relative imports resolved; TYPE_CHECKING blocks skipped."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit_else(child)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)  # `from pkg import module`
            visit(child)

    def visit_else(node: ast.If) -> None:
        for statement in node.orelse:
            visit(ast.Module(body=[statement], type_ignores=[]))

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def import_graph(package: str = "panohead") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (names that are attributes, not modules, dropped)."""
    modules = {module_name(path): path for path in (ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {target for target in imported_names(path, name) if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_engine_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_deferred_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_deferred_and_relative_imports_count_and_type_checking_ones_do_not(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from panohead.generator import PanoHeadGenerator\n"
        "def later():\n"
        "    from panohead.official import load_official_generator\n"
    )
    names = imported_names(module, "panohead.editing.module")
    assert {"panohead.editing.sibling", "panohead.official", "typing"} <= names
    assert "panohead.generator" not in names


def test_the_engine_never_imports_the_viewer():
    importers = {
        name: sorted(target for target in imported_names(path, name) if target.split(".")[0] in ("viz", "gui_utils"))
        for path in (ROOT / "panohead").rglob("*.py")
        if (name := module_name(path))
    }
    assert {name: found for name, found in importers.items() if found} == {}
