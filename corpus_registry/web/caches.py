"""Answers that cost a scan of a million rows, computed once and kept until the registry changes.

The per-source counts behind the sources page and its facets are recomputed only when the
registry's fingerprint (new documents, ingest runs, withdrawals, re-synced sources) changes, and
the fingerprint itself is looked at no more than every few seconds. The counts are also kept in
the registry (``settings``), so a restarted server or a second worker process starts with them;
while one request recounts, the others are answered from the previous counts instead of waiting.
A release's licence mix and the diff between two releases never change once built; they are kept
by release and build time. A write through the web makes the next request look again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from corpus_registry.errors import CorpusRegistryError
from corpus_registry.registry import browse
from corpus_registry.registry.db.models import Setting
from corpus_registry.registry.registry import Registry

T = TypeVar("T")
COUNTS_KEY = "web_counts"


@dataclass
class Counts:
    """The facet rows, when they were counted, and the registry fingerprint they describe."""

    rows: list[browse.FacetRow]
    computed: float
    fingerprint: list[str]


def fingerprint(registry: Registry) -> list[str]:
    return [str(part) for part in browse.fingerprint(registry)]


@dataclass
class Caches:
    registry: Registry
    recheck_s: float = 5.0
    _counts: Counts | None = None
    _checked: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counting: threading.Lock = field(default_factory=threading.Lock)
    _memo: OrderedDict[Any, Any] = field(default_factory=OrderedDict)

    def counts(self) -> Counts:
        current = self._counts
        if current is not None and time.monotonic() - self._checked < self.recheck_s:
            return current
        now = fingerprint(self.registry)
        if current is None:
            current = self._counts = self._load()
        if current is not None and current.fingerprint == now:
            self._checked = time.monotonic()
            return current
        if current is not None and self._counting.locked():
            return current  # being recounted: the previous counts meanwhile
        with self._counting:
            current = self._counts
            if current is None or current.fingerprint != now:
                current = self._counts = Counts(browse.facet_rows(self.registry), time.time(), now)
                self._save(current)
            self._checked = time.monotonic()
            return current

    def _load(self) -> Counts | None:
        try:
            with self.registry.session() as s:
                row = s.get(Setting, COUNTS_KEY)
                data = json.loads(row.value) if row is not None else None
            if not data:
                return None
            return Counts([browse.FacetRow(*r) for r in data["rows"]], float(data["computed"]),
                          [str(x) for x in data["fingerprint"]])
        except (CorpusRegistryError, ValueError, KeyError, TypeError):
            return None  # unreadable: count again

    def _save(self, counts: Counts) -> None:
        value = json.dumps({"fingerprint": counts.fingerprint, "computed": counts.computed,
                            "rows": [[r.source, r.language, r.license, r.license_tier, r.documents, r.words]
                                     for r in counts.rows]})
        try:
            with self.registry.session() as s:
                row = s.get(Setting, COUNTS_KEY)
                if row is None:
                    s.add(Setting(key=COUNTS_KEY, value=value))
                else:
                    row.value = value
        except CorpusRegistryError:
            pass  # another process saved its counts at the same moment: either copy will do

    def memo(self, key: Any, compute: Callable[[], T], *, size: int = 64) -> T:
        """``compute()`` once per ``key`` (the least recently used of ``size`` keys are forgotten)."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > size:
                self._memo.popitem(last=False)
        return value

    def kept(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` (a JSON value) once per ``key`` for every server: memoised here and kept in the
        registry's settings, for answers that never change once made (a built release's licence mix)."""
        name = "web:" + hashlib.sha256(key.encode()).hexdigest()[:40]

        def load_or_compute() -> Any:
            try:
                with self.registry.session() as s:
                    row = s.get(Setting, name)
                    if row is not None:
                        return json.loads(row.value)
            except (CorpusRegistryError, ValueError):
                pass
            value = compute()
            try:
                with self.registry.session() as s:
                    if s.get(Setting, name) is None:
                        s.add(Setting(key=name, value=json.dumps(value)))
            except CorpusRegistryError:
                pass  # kept by another process meanwhile
            return value

        return self.memo(("kept", name), load_or_compute, size=256)

    def clear(self) -> None:
        """After a write: look at the fingerprint on the next request; forget memoised answers."""
        with self._lock:
            self._checked = 0.0
            self._memo.clear()


FACETS = ("collection", "license", "license_tier", "language")


def source_table(rows: list[browse.FacetRow], sources: list[browse.SourceSummary],
                 selected: dict[str, str]) -> dict[str, Any]:
    """The sources page: each source with its documents, words, languages and tiers among the rows
    matching ``selected`` facets, and every facet's values with their counts (each facet counted
    over the rows matching the *other* selected facets)."""
    collection = {s.slug: s.collection for s in sources}

    def value(row: browse.FacetRow, facet: str) -> str:
        return collection.get(row.source, "") if facet == "collection" else str(getattr(row, facet))

    def matches(row: browse.FacetRow, skip: str | None = None) -> bool:
        return all(value(row, f) == v for f, v in selected.items() if f != skip and v)

    facets: dict[str, list[dict[str, Any]]] = {}
    for facet in FACETS:
        agg: dict[str, list[int]] = {}
        for row in rows:
            if matches(row, skip=facet):
                a = agg.setdefault(value(row, facet), [0, 0])
                a[0] += row.documents
                a[1] += row.words
        facets[facet] = [{"value": v, "documents": d, "words": w, "selected": selected.get(facet) == v}
                         for v, (d, w) in sorted(agg.items(), key=lambda kv: (-kv[1][0], kv[0]))]
    per_source: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not matches(row):
            continue
        entry = per_source.setdefault(row.source, {"documents": 0, "words": 0, "languages": {}, "tiers": {}})
        entry["documents"] += row.documents
        entry["words"] += row.words
        entry["languages"][row.language] = entry["languages"].get(row.language, 0) + row.documents
        entry["tiers"][row.license_tier] = entry["tiers"].get(row.license_tier, 0) + row.documents
    filtered = any(selected.values())
    listed = []
    for src in sources:
        found = per_source.get(src.slug)
        if found is None and filtered:
            continue
        entry = found or {"documents": 0, "words": 0, "languages": {}, "tiers": {}}
        listed.append({
            **{k: getattr(src, k) for k in ("slug", "name", "collection", "license", "license_tier", "status",
                                             "review")},
            "documents": entry["documents"], "words": entry["words"],
            "languages": [{"language": k, "documents": v}
                          for k, v in sorted(entry["languages"].items(), key=lambda kv: (-kv[1], kv[0]))],
            "tiers": [{"tier": k, "documents": v} for k, v in sorted(entry["tiers"].items())],
        })
    totals = {"documents": sum(s["documents"] for s in listed), "words": sum(s["words"] for s in listed),
              "sources": len(listed)}
    return {"sources": listed, "facets": facets, "selected": {k: v for k, v in selected.items() if v},
            "totals": totals}
