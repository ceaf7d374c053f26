"""Near-duplicate removal: sign, bucket, verify candidates, keep one document per cluster.

The stage that ties MinHash and LSH together; it holds per document only the key, keep-rule
fields, bucket ids and a 16-bit signature, never the text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from corpus_registry.build.dedup.keep import DedupResult, Duplicate, Rank, _doc_rank, keep_rank
from corpus_registry.build.dedup.lsh import LSHIndex, choose_bands, cluster_keepers
from corpus_registry.build.dedup.minhash import MinHasher
from corpus_registry.build.filters import BuildDoc

__all__ = ["NearDedup", "estimated_jaccard"]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal positions of two signatures: an unbiased estimate of their Jaccard."""
    return float(np.mean(a == b))


class NearDedup:
    """Streaming near-duplicate detection: ``add`` documents, then ``finalize`` once.

    Texts are signed in batches of ``batch_size`` and then forgotten; what stays per document is
    its key, keep-rule fields, bucket ids and a 16-bit-per-permutation signature.
    """

    name = "near_dedup"

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        num_perm: int = 256,
        ngram: int = 5,
        seed: int = 1,
        bands: int | None = None,
        rows: int | None = None,
        verify_threshold: float | None = None,
        batch_size: int = 1024,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        sigma = math.sqrt(threshold * (1 - threshold) / num_perm)
        self.verify_threshold = (
            max(0.0, threshold - 2 * sigma) if verify_threshold is None else verify_threshold
        )
        if bands is None or rows is None:
            bands, rows = choose_bands(num_perm=num_perm, threshold=self.verify_threshold)
        self.hasher = MinHasher(num_perm=num_perm, ngram=ngram, seed=seed)
        self.index = LSHIndex(bands=bands, rows=rows, seed=seed)
        self.batch_size = batch_size
        self._signatures = np.empty((1024, num_perm), dtype=np.uint16)
        self._ranks: list[Any] = []  # keep_rank tuples, or integer positions
        self._pending: list[BuildDoc] = []
        self._seen: set[str] = set()

    def add(self, doc: BuildDoc) -> None:
        if doc.key in self._seen:
            raise ValueError(f"duplicate document key {doc.key!r}: keys must be unique")
        self._seen.add(doc.key)
        self._pending.append(doc)
        if len(self._pending) >= self.batch_size:
            self._flush()

    def add_many(self, docs: Iterable[BuildDoc]) -> None:
        for doc in docs:
            self.add(doc)

    def reserve(self, count: int) -> None:
        """Allocate room for ``count`` documents at once (no doubling on growth: a flat peak)."""
        if count > self._signatures.shape[0]:
            grown = np.empty((count, self._signatures.shape[1]), dtype=self._signatures.dtype)
            grown[: len(self._ranks)] = self._signatures[: len(self._ranks)]
            self._signatures = grown
        index = self.index
        if count > index._hashes.shape[0]:
            hashes = np.empty((count, index.bands), dtype=index._hashes.dtype)
            hashes[: index._size] = index._hashes[: index._size]
            index._hashes = hashes

    def add_signatures(self, *, keys: list[str], signatures: np.ndarray,
                       ranks: list[Rank] | list[int], unique: bool = False) -> None:
        """Add a batch signed elsewhere (rows of ``signatures``; ``ranks`` from :func:`keep_rank`, or
        integer positions by that rule when the caller ranked all its documents at once; one kind
        for every batch).

        ``unique=True`` promises the keys were never added before (a build's keys are unique by
        construction), which skips the check and the memory of remembering every key.
        """
        if signatures.shape != (len(keys), self.hasher.num_perm):
            raise ValueError(f"signatures have shape {signatures.shape}, "
                             f"expected ({len(keys)}, {self.hasher.num_perm})")
        if not unique:
            if self._seen.intersection(keys) or len(set(keys)) != len(keys):
                raise ValueError("duplicate document keys: keys must be unique")
            self._seen.update(keys)
        self._flush()
        self._store(keys, ranks, signatures)

    def set_ranks(self, ranks: list[Rank] | list[int]) -> None:
        """Replace every document's rank (in the order they were added): a build ranks its documents
        once the text scores measured while signing are all in."""
        self._flush()
        if len(ranks) != len(self._ranks):
            raise ValueError(f"{len(ranks)} ranks for {len(self._ranks)} documents")
        self._ranks = list(ranks)

    def add_signature(
        self, *, key: str, signature: np.ndarray, date: str | None = None, word_count: int = 0,
        tier: str | None = None, quality: float = 0.0,
    ) -> None:
        """Add a document signed elsewhere (same ``MinHasher`` parameters), e.g. by a worker."""
        if key in self._seen:
            raise ValueError(f"duplicate document key {key!r}: keys must be unique")
        if signature.shape != (self.hasher.num_perm,):
            raise ValueError(
                f"signature of {key!r} has shape {signature.shape}, "
                f"expected ({self.hasher.num_perm},)"
            )
        self._flush()
        self._seen.add(key)
        self._store(
            [key], [keep_rank(tier=tier, quality=quality, date=date, word_count=word_count, key=key)],
            signature.reshape(1, -1)
        )

    def _flush(self) -> None:
        if not self._pending:
            return
        docs, self._pending = self._pending, []
        signatures = self.hasher.signatures([doc.text for doc in docs])
        self._store([doc.key for doc in docs], [_doc_rank(doc) for doc in docs], signatures)

    def _store(
        self, keys: list[str], ranks: list[Rank] | list[int], signatures: np.ndarray
    ) -> None:
        start = len(self._ranks)
        need = start + len(keys)
        if need > self._signatures.shape[0]:
            grown = np.empty(
                (max(need, 2 * self._signatures.shape[0]), self._signatures.shape[1]),
                dtype=np.uint16,
            )
            grown[:start] = self._signatures[:start]
            self._signatures = grown
        self._signatures[start:need] = signatures.astype(np.uint16)  # low 16 bits
        self.index.add_batch(keys, signatures)
        self._ranks.extend(ranks)

    def _similarities(self, pairs: np.ndarray) -> np.ndarray:
        """Estimated Jaccard of each pair; 16-bit values collide by chance 1/65536 of the time."""
        out = np.empty(len(pairs), dtype=np.float64)
        signatures = self._signatures
        step = max(1, (1 << 24) // signatures.shape[1])
        for s in range(0, len(pairs), step):
            chunk = pairs[s : s + step]
            equal = (signatures[chunk[:, 0]] == signatures[chunk[:, 1]]).mean(axis=1)
            out[s : s + step] = np.clip((equal - 2**-16) / (1 - 2**-16), 0.0, 1.0)
        return out

    def finalize(self, *, threads: int = 1) -> DedupResult:
        """Clusters of everything added; ``threads`` bucket the LSH bands in parallel (same result)."""
        order = self.canonical_order()
        return self.resolve(self.index.candidate_pairs(order, threads=threads), order=order)

    def canonical_order(self) -> np.ndarray:
        """Document numbers best first by the keep rule (position → document), after a flush."""
        self._flush()
        ranks = self._ranks
        if ranks and isinstance(ranks[0], int):
            return np.argsort(np.asarray(ranks, dtype=np.int64), kind="stable")
        return np.array(sorted(range(len(ranks)), key=ranks.__getitem__), dtype=np.int64)

    def resolve(self, candidates: np.ndarray, *, order: np.ndarray | None = None) -> DedupResult:
        """Clusters from candidate pairs found anywhere (this index, or buckets grouped elsewhere).

        Candidates are verified on the 16-bit signatures, joined with union-find, and each cluster
        keeps its best document by the keep rule: the same candidates give the same result.
        """
        if order is None:
            order = self.canonical_order()
        n = len(self._ranks)
        keys = self.index.keys
        verified = candidates[self._similarities(candidates) >= self.verify_threshold]
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        dropped, kept = cluster_keepers(n, verified, position)
        pairs = np.stack([dropped, kept], axis=1)
        duplicate_of: dict[str, Duplicate] = {}
        for (member, best), sim in zip(pairs.tolist(), self._similarities(pairs).tolist()):
            duplicate_of[keys[member]] = Duplicate(keys[best], round(sim, 4))
        kept_keys = sorted(k for k in keys if k not in duplicate_of)
        return DedupResult(
            kept_keys=kept_keys,
            duplicate_of=dict(sorted(duplicate_of.items())),
            stats={
                "docs": n,
                "kept": len(kept_keys),
                "dropped": len(duplicate_of),
                "candidate_pairs": len(candidates),
                "verified_pairs": len(verified),
                "clusters": len(np.unique(kept)),
            },
        )
