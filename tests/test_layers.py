"""The folders are the architecture: imports walk down the layers, and nothing imports in a circle.

Every import is counted, inside functions and under ``TYPE_CHECKING`` too: a lazy import that
goes upward still ties a lower layer to a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "flows", "models")

# Layer rank of each group of modules; a module may import its own group or a lower rank.
LAYERS: dict[str, int] = {
    "pipeline": 0, "pipeline.errors": 0,
    "pipeline.store": 1,
    "pipeline.acquire": 2, "pipeline.text": 2,
    "pipeline.formats": 3, "pipeline.reasoning": 3,
    "pipeline.features": 4, "pipeline.sources": 4,
    "pipeline.config": 5, "pipeline.plan": 5, "pipeline.plots": 5, "pipeline.reports": 5, "pipeline.build": 5,
    "models": 6,
    "flows": 7,
    "pipeline.cli": 8, "pipeline.demo": 8, "pipeline.localserver": 8,
}
GROUPS = {"pipeline.config": "build", "pipeline.plan": "build", "pipeline.plots": "build",
          "pipeline.reports": "build", "pipeline.build": "build",
          "pipeline.cli": "faces", "pipeline.demo": "faces", "pipeline.localserver": "faces"}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The datamill modules ``name`` imports (a name imported from a package resolves to its submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    out.add(f"{base}.{alias.name}")
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def layer(module: str) -> tuple[str, int]:
    """The module's group and rank: the longest prefix named in ``LAYERS``."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return GROUPS.get(prefix, prefix), LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def test_every_import_walks_down_the_layers():
    upward = []
    for module, targets in graph().items():
        group, rank = layer(module)
        for target in targets:
            target_group, target_rank = layer(target)
            if target_group != group and target_rank >= rank:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports across or up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_circles():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [node, target]) if target in stack
                              else f"{node} -> {target}")
            elif target not in state:
                visit(target, stack + [node])
        state[node] = 2
    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_the_checker_sees_an_upward_import_and_a_circle(tmp_path):
    """The walker itself: a lazy upward import is found, and so is a circle through TYPE_CHECKING."""
    (tmp_path / "a.py").write_text("def f():\n    from pipeline.cli import main\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pipeline.store import x\n")
    known = {"pipeline.cli", "pipeline.store", "pipeline.store.x"}
    assert imports("pipeline.store.y", tmp_path / "a.py", known) == {"pipeline.cli"}
    assert imports("pipeline.store.y", tmp_path / "b.py", known) == {"pipeline.store.x"}
    assert layer("pipeline.formats.mediawiki.dump") == ("pipeline.formats", 3)
