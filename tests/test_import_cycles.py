"""No import circles between our modules (graph_engine, model_library, latentloom, web, nodes, cluster).

A circle of top-level imports works only as long as every module on it happens to be imported from the right end
first, and breaks on an innocent reordering; one dodged by moving an import into a function is still two modules
that cannot be understood (or moved to another room) apart. Imports under `if TYPE_CHECKING:` never run and do not
count."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("graph_engine", "model_library", "latentloom", "web", "nodes", "cluster")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(tree: ast.Module, *, in_functions: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run: at the top level (also inside if/try/with blocks and class bodies there),
    and with `in_functions` those inside functions too; never those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        elif in_functions or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            pending.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(module: str, path: Path, statement: ast.Import | ast.ImportFrom, ours: set[str]) -> set[str]:
    """Our modules a statement needs: those it names; for `from X import Y` the submodule X.Y when there is one,
    else X itself (Y is a name defined in X)."""
    if isinstance(statement, ast.Import):
        return {alias.name for alias in statement.names} & ours
    if statement.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(statement.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{statement.module}" if statement.module else package
    else:
        base = statement.module or ""
    needed = set()
    for alias in statement.names:
        submodule = f"{base}.{alias.name}"
        needed.add(submodule if submodule in ours else base)
    return needed & ours


def import_graph(*, in_functions: bool = False) -> nx.DiGraph:
    """Module -> the modules of ours it imports."""
    modules = our_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for statement in imports(tree, in_functions=in_functions):
            needed = imported_modules(module, path, statement, set(modules))
            graph.add_edges_from((module, target) for target in needed - {module})
    return graph


def circles(graph: nx.DiGraph) -> str:
    return "\n".join(" -> ".join([*cycle, cycle[0]]) for cycle in sorted(nx.simple_cycles(graph)))


def test_imports_that_run_are_found_where_they_are():
    tree = ast.parse(textwrap.dedent("""
        import a
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import typed_only
        else:
            import not_typing
        try:
            import b
        except ImportError:
            import c
        class K:
            import d
            def method(self):
                import e
        def function():
            import f
        """))
    names = lambda found: sorted(alias.name for statement in found for alias in statement.names)
    assert names(imports(tree, in_functions=False)) == ["TYPE_CHECKING", "a", "b", "c", "d", "not_typing"]
    assert names(imports(tree, in_functions=True)) == ["TYPE_CHECKING", "a", "b", "c", "d", "e", "f", "not_typing"]


def test_the_import_graph_sees_our_modules_imports():
    top_level, everywhere = import_graph(), import_graph(in_functions=True)
    assert top_level.has_edge("graph_engine.validate", "graph_engine.plan")  # from .plan import ...
    assert top_level.has_edge("graph_engine", "graph_engine.workflow")  # a package's __init__
    assert top_level.has_edge("latentloom.models_cli", "latentloom.models_paths")  # from .x import name
    assert not top_level.has_edge("latentloom.cli", "latentloom.error_reports")  # only inside functions
    assert everywhere.has_edge("latentloom.cli", "latentloom.error_reports")


def test_no_import_circles_among_top_level_imports():
    assert circles(import_graph()) == ""


def test_no_import_circles_even_through_imports_inside_functions():
    assert circles(import_graph(in_functions=True)) == ""
