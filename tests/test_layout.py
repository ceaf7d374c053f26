"""The package's shape: one folder per job, imports flowing one way, migrations at the top level."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PKG = REPO / "corpus_registry"
#: Who may import whom: cli -> web -> audit -> build -> registry; the shared modules import no job.
#: (The CLI starts the web application and manages its accounts; nothing below imports the web.)
LAYERS = {"cli": 5, "web": 4, "audit": 3, "build": 2, "registry": 1, "executors": 0}
SHARED = {"errors", "config", "hub", "outputs", "terminal"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every corpus_registry module ``path`` imports, lazy imports in functions included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (use absolute corpus_registry.… imports)")
    return {m for m in found if m == "corpus_registry" or m.startswith("corpus_registry.")}


def _parse_all() -> dict[str, list[str]]:
    return {_module(p): sorted(_imports(p)) for p in sorted(PKG.rglob("*.py"))}


def _graph() -> dict[str, set[str]]:
    """Parsed in a fresh interpreter: CPython 3.11's AST validator can report a recursion-depth
    mismatch (SystemError) in a process whose recursion bookkeeping other tests left off balance."""
    out = subprocess.run([sys.executable, __file__], capture_output=True, text=True, check=True, timeout=120)
    return {module: set(imports) for module, imports in json.loads(out.stdout).items()}


def _job(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_top_level_keeps_only_what_every_job_shares() -> None:
    modules = sorted(p.name for p in PKG.glob("*.py"))
    assert len(modules) <= 8, modules
    assert {p.stem for p in PKG.glob("*.py")} - {"__init__"} <= SHARED


def test_imports_flow_one_way() -> None:
    wrong = []
    for module, targets in _graph().items():
        job = _job(module)
        for target in targets:
            to = _job(target)
            if job in SHARED and to in LAYERS:
                wrong.append(f"{module} -> {target}")
            elif job in LAYERS and to in LAYERS and to != job and LAYERS[to] >= LAYERS[job]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_no_import_cycle() -> None:
    graph = _graph()
    known = set(graph)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    # a package's __init__ re-exporting its own children is not a cycle
    edges = {m: {t for t in map(resolve, ts) if t and t != m and not t.startswith(m + ".")}
             for m, ts in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in edges[m]:
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(t):], t]))
            if t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])


def test_migrations_live_at_the_top_level_only() -> None:
    assert sorted((REPO / "migrations" / "versions").glob("0001_*.py"))
    assert (REPO / "migrations" / "env.py").is_file()
    assert not (PKG / "migrations").exists()


if __name__ == "__main__":
    print(json.dumps(_parse_all()))
