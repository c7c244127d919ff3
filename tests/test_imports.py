"""How convcalc's modules import each other: no cycles, even through imports inside functions,
and ``import convcalc`` loads nothing but the package itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "convcalc"


def module_name(path: Path) -> str:
    """``convcalc/render/table.py`` → ``convcalc.render.table`` (a package is its ``__init__``)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` — imports only a type checker runs."""
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at top level, in functions and classes, in any
    branch, but not under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and is_type_checking(node):
            yield from (item for branch in node.orelse for item in runtime_imports_of(branch))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from runtime_imports(node)


def runtime_imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """:func:`runtime_imports` of ``node`` itself and what it holds."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    yield from runtime_imports(node)


def imported_modules(name: str) -> set[str]:
    """The convcalc modules that module ``name`` can import when it runs."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in runtime_imports(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from package import module` imports the submodule; other names come from base.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        found.update(target for target in targets if target in MODULES and target != name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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


def test_no_module_imports_itself_through_others() -> None:
    graph = {name: imported_modules(name) for name in MODULES}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_function_level_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from convcalc import report\n")
    assert [node.module for node in runtime_imports(tree)] == ["convcalc"]  # type: ignore[union-attr]


def test_type_checking_imports_do_not_count() -> None:
    tree = ast.parse("if TYPE_CHECKING:\n    import convcalc.report\nelse:\n    import os\n")
    assert [alias.name for node in runtime_imports(tree) for alias in node.names] == ["os"]


def test_import_convcalc_loads_only_the_package() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; before = set(sys.modules); import convcalc; "
            "print(sorted(set(sys.modules) - before))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "['convcalc']"
