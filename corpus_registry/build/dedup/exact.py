"""Exact duplicates: the same sha256 of normalised text, grouped in one dict, no text kept."""

from __future__ import annotations

from collections.abc import Iterable

from corpus_registry.build.dedup.keep import DedupResult, Duplicate, Rank, _doc_rank
from corpus_registry.build.filters import BuildDoc

__all__ = ["ExactDedup"]


class ExactDedup:
    """Documents with the same sha256 (of normalised text): one is kept by the keep rule."""

    name = "exact_dedup"

    def __init__(self) -> None:
        self._ranks: dict[str, Rank] = {}
        self._by_hash: dict[str, list[str]] = {}

    def add(self, doc: BuildDoc) -> None:
        if doc.key in self._ranks:
            raise ValueError(f"duplicate document key {doc.key!r}: keys must be unique")
        self._ranks[doc.key] = _doc_rank(doc, measure=False)  # same text, same quality
        self._by_hash.setdefault(doc.sha256, []).append(doc.key)

    def add_many(self, docs: Iterable[BuildDoc]) -> None:
        for doc in docs:
            self.add(doc)

    def finalize(self) -> DedupResult:
        duplicate_of: dict[str, Duplicate] = {}
        groups = [keys for keys in self._by_hash.values() if len(keys) > 1]
        for group in groups:
            best = min(group, key=self._ranks.__getitem__)
            duplicate_of.update((key, Duplicate(best, 1.0)) for key in group if key != best)
        kept = sorted(key for key in self._ranks if key not in duplicate_of)
        stats = {
            "docs": len(self._ranks),
            "kept": len(kept),
            "dropped": len(duplicate_of),
            "groups": len(groups),
        }
        return DedupResult(kept, dict(sorted(duplicate_of.items())), stats)
