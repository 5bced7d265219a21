"""The package's imports run downward: no cycles, and no layer reaches above itself.

Read with ``ast`` (nothing is imported): every ``import`` and ``from ... import``
inside ``energybench/``, at module level or in a function, except those under
``if TYPE_CHECKING:`` (never executed). A package's ``__init__`` is a module
of its own; a submodule's implicit import of its parent package is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "energybench"


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module -> the energybench modules it imports."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            edges |= {t for t in targets if t in mods and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_the_graph_sees_real_imports() -> None:
    g = import_graph()
    assert "energybench.executors.base" in g["energybench.submit"]
    assert "energybench.worker.signals" in g["energybench.worker.train"]
    assert "energybench.slurm.executor" not in g["energybench.executors"]  # found by name in the registry


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _reaches(graph: dict[str, set[str]], source: str, forbidden: str) -> list[tuple[str, str]]:
    return sorted((m, t) for m, ts in graph.items() if m == source or m.startswith(source + ".")
                  for t in ts if t == forbidden or t.startswith(forbidden + "."))


#: (lower layer, a layer above it that it must not import)
LAYERS = [
    ("energybench.worker", "energybench.estimate"),
    ("energybench.worker", "energybench.search"),
    ("energybench.worker", "energybench.executors"),
    ("energybench.worker", "energybench.slurm"),
    ("energybench.worker", "energybench.submit"),
    ("energybench.worker", "energybench.collect"),
    ("energybench.meter", "energybench.worker"),
    ("energybench.slurm", "energybench.submit"),
    ("energybench.slurm", "energybench.cli"),
    ("energybench.executors", "energybench.submit"),
    ("energybench.executors", "energybench.cli"),
    ("energybench.plan", "energybench.submit"),
    ("energybench.status", "energybench.executors"),
    ("energybench.tables", "energybench.figures"),
    ("energybench.figures", "energybench.report"),
    ("energybench.reference", "energybench.figures"),
    ("energybench.paths", "energybench.plan"),
    ("energybench.stopping", "energybench.worker"),
]


@pytest.mark.parametrize(("lower", "higher"), LAYERS, ids=[f"{a}-/->{b}" for a, b in LAYERS])
def test_no_layer_imports_one_above_it(lower: str, higher: str) -> None:
    assert _reaches(import_graph(), lower, higher) == []


def test_the_estimators_use_only_the_workers_public_seams() -> None:
    public = {"energybench.worker.data", "energybench.worker.models"}
    used = {t for _, t in _reaches(import_graph(), "energybench.estimate", "energybench.worker")}
    assert used <= public, used - public
