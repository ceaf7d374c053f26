"""Hypothesis strategies shared by the fuzz tests: random JSON-like values, mutations of real
YAML documents, and bounded settings (each fuzz test stays well under ~30 s on the CI machine)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Reproducible in CI (the same examples every run), exploring locally.
CI = bool(os.environ.get("CI"))


#: ``FUZZ_SCALE=20 pytest tests -k fuzz`` explores 20 times longer (e.g. before a release).
SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1") or 1))


def bounded(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=CI, database=None if CI else settings.default.database,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
           | st.sampled_from(["", "fr", "../../pwn", "CC0-1.0", "etalab-2.0", "public_domain", "1.0.0", "\x00",
                              "a" * 300, "2020-01-01", "-1", "1e309", "true", "null"]))
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=12) | st.integers(-3, 70), kids, max_size=4),
                           max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, document: Any, *, keys: list[Any]) -> Any:
    """``document`` with a few random edits: a value replaced, a key removed, a key added (one of
    ``keys``, the names the real schema uses, or a random one)."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if action == "replace":
                doc = draw(json_values)
            continue
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[draw(st.sampled_from(keys) | st.text(max_size=8))] = draw(json_values)
    return doc


def sqlite_registry(folder: Path, catalogue: str) -> Any:
    """A SQLite registry in ``folder`` holding the sources of ``catalogue`` (a sources.yaml text)."""
    from corpus_registry.registry.ingest import ingest
    from corpus_registry.registry.registry import Registry
    from corpus_registry.registry.sources import sync_sources

    reg = Registry(f"sqlite:///{folder / 'registry.db'}")
    reg.init(store=str(folder / "store"))
    (folder / "sources.yaml").write_text(catalogue, encoding="utf-8")
    sync_sources(reg, catalogue_path=folder / "sources.yaml")
    ingest(reg, progress=False, workers=1)
    return reg
