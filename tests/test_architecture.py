"""The module boundaries the design promises, read from the sources' import statements.

- no import cycles in the harness (counting what runs: a package's `__init__` runs before
  any of its modules is imported from outside it; imports only type checkers see do not run);
- the suites never import a backend module: they see a stack only through its interface;
- the backend interface imports no backend, and the backends import nothing of the fault
  layer (the fault layer speaks to a stack through the interface's protocols).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ROOT

from stackproof.backend_registry import BACKENDS

PACKAGE = ROOT / "src" / "stackproof"
BACKEND_MODULES = tuple(
    f"stackproof.backends.{dotted.split(':')[0].rsplit('.', 1)[-1]}" for dotted in BACKENDS.values()
)


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("stackproof."):
        return False
    relative = PACKAGE.parent.joinpath(*dotted.split("."))
    return relative.with_suffix(".py").is_file() or (relative / "__init__.py").is_file()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imported(path: Path) -> Iterator[str]:
    """Modules `path` imports when it runs (imports only type checkers see are left out)."""
    tree = ast.parse(path.read_text("utf-8"))
    inside = path.is_relative_to(PACKAGE)
    name = module_name(path) if inside else ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and _type_checking_only(node):
                continue
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                # `from package import module` needs the module; `from module import name`
                # needs the module (`base`) — whichever of the two exists is the import.
                submodules = [f"{base}.{alias.name}" for alias in node.names]
                yield from (
                    (m for m in submodules if _is_module(m))
                    if any(_is_module(m) for m in submodules)
                    else (base,)
                )
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []):
                        yield from visit(
                            child.body if isinstance(child, ast.ExceptHandler) else [child]
                        )

    yield from visit(tree.body)


def _packages_run_first(importer: str, target: str) -> set[str]:
    """Importing `a.b.c` runs `a` and `a.b` first — except the packages `importer` is in,
    which are already running when it runs."""
    own = {importer.rsplit(".", n)[0] for n in range(importer.count(".") + 1)}
    parts = target.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts))} - own


def harness_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        direct = {m for m in imported(path) if m in modules}
        implied = {p for m in direct for p in _packages_run_first(name, m)}
        graph[name] = (direct | implied) & set(modules) - {name}
    return graph


def test_the_harness_has_no_import_cycle() -> None:
    graph = harness_graph()
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                walk(target, [*trail, target])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert cycles == [], "\n".join(" → ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("path", sorted((ROOT / "suites").rglob("*.py")), ids=lambda p: p.name)
def test_suites_never_import_a_backend(path: Path) -> None:
    reached = [m for m in imported(path) if m.startswith(BACKEND_MODULES)]
    assert reached == [], f"{path.relative_to(ROOT)} imports {reached}"


def test_the_interface_imports_no_backend_and_backends_no_fault_layer() -> None:
    graph = harness_graph()
    for interface in ("stackproof.backends.base", "stackproof.backends.values"):
        assert not [m for m in graph[interface] if m.startswith(BACKEND_MODULES)], interface
    assert graph["stackproof.backends.values"] <= set(), "values is a leaf"
    for module, targets in graph.items():
        if module.startswith("stackproof.backends"):
            faults = [t for t in targets if t.startswith("stackproof.faults")]
            assert faults == [], f"{module} imports the fault layer: {faults}"
