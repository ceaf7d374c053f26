"""Locality-sensitive hashing: which pairs are worth comparing, and how they join into clusters.

LSH only proposes candidates (verification is :class:`~corpus_registry.build.dedup.near.NearDedup`'s);
the pairing helpers are shared with the distributed executor, which groups buckets elsewhere and
must produce the same candidates as :meth:`LSHIndex.candidate_pairs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from corpus_registry.build.dedup.minhash import _U64, _constants, _mix

__all__ = ["LSHIndex", "band_hashes", "bucket_pairs", "choose_bands", "document_pairs"]


def choose_bands(
    *, num_perm: int, threshold: float, min_probability: float = 0.99
) -> tuple[int, int]:
    """(bands, rows): the most rows (fewest candidates) that still make a pair of similarity
    ``threshold`` a candidate with probability ≥ ``min_probability``."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= min_probability:
            return bands, rows
    return num_perm, 1


def row_multipliers(rows: int, seed: int) -> np.ndarray:
    """The odd 64-bit multipliers that fold a band's ``rows`` values into one bucket id."""
    return _constants(seed ^ 0x5EED, rows) | _U64(1)


def band_hashes(signatures: np.ndarray, *, bands: int, rows: int, multipliers: np.ndarray) -> np.ndarray:
    """``(n, bands)`` uint64 bucket ids of ``(n, >= bands*rows)`` signatures: a signing worker
    computes them beside the signatures, so that the driver only files them."""
    n = signatures.shape[0]
    width = bands * rows
    if signatures.shape[1] < width:
        raise ValueError(f"signatures have {signatures.shape[1]} values, LSH needs {width}")
    blocks = signatures[:, :width].reshape(n, bands, rows).astype(_U64)
    return _mix(np.asarray(np.sum(blocks * multipliers, axis=2, dtype=_U64)))


class LSHIndex:
    """Banded LSH over MinHash signatures; stores one 64-bit bucket id per band and document.

    Documents are numbered in the order they are added; ``candidate_pairs`` takes an optional
    canonical order so that its output does not depend on the insertion order.
    """

    def __init__(self, *, bands: int, rows: int, seed: int = 1) -> None:
        if bands < 1 or rows < 1:
            raise ValueError("bands and rows must be at least 1")
        self.bands = bands
        self.rows = rows
        self._row_mult = row_multipliers(rows, seed)
        self._hashes = np.empty((1024, bands), dtype=_U64)
        self._size = 0
        self.keys: list[str] = []

    def __len__(self) -> int:
        return self._size

    def band_hashes(self, signatures: np.ndarray) -> np.ndarray:
        """``(n, bands)`` uint64 bucket ids of ``(n, >= bands*rows)`` signatures."""
        return band_hashes(signatures, bands=self.bands, rows=self.rows, multipliers=self._row_mult)

    def add(self, key: str, signature: np.ndarray) -> None:
        self.add_batch([key], signature.reshape(1, -1))

    def add_batch(self, keys: Sequence[str], signatures: np.ndarray) -> None:
        hashes = self.band_hashes(signatures)
        need = self._size + len(keys)
        if need > self._hashes.shape[0]:
            grown = np.empty((max(need, 2 * self._hashes.shape[0]), self.bands), dtype=_U64)
            grown[: self._size] = self._hashes[: self._size]
            self._hashes = grown
        self._hashes[self._size : need] = hashes
        self._size = need
        self.keys.extend(keys)

    def candidate_pairs(self, order: np.ndarray | None = None, *, threads: int = 1) -> np.ndarray:
        """Distinct ``(i, j)`` document numbers sharing a bucket in some band, as a (k, 2) array.

        In each bucket, members sorted by ``order`` (a permutation: position → document, best
        first) are paired with the first member and with their predecessor: 2 pairs per member
        instead of all pairs, so a bucket of a thousand copies stays cheap. Bands are independent:
        ``threads`` sort them at once (numpy sorts without the GIL); the result is the same.
        """
        n = self._size
        if order is None:
            order = np.arange(n)

        def band_pairs(band: int) -> list[np.ndarray]:
            column = self._hashes[order, band]
            sort = np.argsort(column, kind="stable")  # stable: ties stay in canonical order
            same = column[sort[1:]] == column[sort[:-1]]
            if not same.any():
                return []
            members = np.flatnonzero(same) + 1
            is_start = np.ones(n, dtype=bool)
            is_start[members] = False
            group_start = np.maximum.accumulate(np.where(is_start, np.arange(n), 0))
            return [np.stack([sort[group_start[members]], sort[members]], axis=1),
                    np.stack([sort[members - 1], sort[members]], axis=1)]

        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                per_band = list(pool.map(band_pairs, range(self.bands)))
        else:
            per_band = [band_pairs(band) for band in range(self.bands)]
        found = [pairs for band in per_band for pairs in band]
        if not found:
            return np.empty((0, 2), dtype=np.int64)
        return _distinct_pairs(order[np.concatenate(found)])

    def bucket_ids(self) -> np.ndarray:
        """``(documents, bands)`` uint64 bucket ids, rows in insertion order (a read-only view)."""
        view = self._hashes[: self._size]
        view.flags.writeable = False
        return view

    def clusters(self) -> list[list[str]]:
        """Groups of keys joined by shared buckets (no verification), each and all sorted."""
        pairs = self.candidate_pairs(np.argsort(np.array(self.keys, dtype=object), kind="stable"))
        return sorted(sorted(self.keys[i] for i in g) for g in _components(self._size, pairs))


def bucket_pairs(offsets: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Candidate pairs of whole buckets grouped elsewhere (e.g. by a distributed shuffle).

    Bucket ``g`` holds the canonical positions ``members[offsets[g]:offsets[g + 1]]`` in any
    order. As in :meth:`LSHIndex.candidate_pairs`, its members sorted by position are paired with
    the first member and with their predecessor. Returns ``(k, 2)`` position pairs, repeats
    included; :func:`document_pairs` turns the pairs of every bucket into candidates.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    if lengths.max(initial=0) < 2:
        return np.empty((0, 2), dtype=np.int64)
    values = np.asarray(members, dtype=np.int64)[offsets[0] : offsets[-1]]
    bucket = np.repeat(np.arange(lengths.size), lengths)
    values = values[np.lexsort((values, bucket))]  # by bucket, then by position
    starts = (offsets[:-1] - offsets[0])[lengths > 0]
    first = np.repeat(values[starts], lengths[lengths > 0])  # each member's bucket leader
    later = np.ones(values.size, dtype=bool)
    later[starts] = False
    at = np.flatnonzero(later)
    return np.concatenate([np.stack([first[at], values[at]], axis=1),
                           np.stack([values[at - 1], values[at]], axis=1)])


def document_pairs(order: np.ndarray, position_pairs: np.ndarray) -> np.ndarray:
    """Distinct ``(i, j)`` document pairs, ``i < j``, of position pairs: what ``candidate_pairs``
    returns for the same buckets."""
    if not len(position_pairs):
        return np.empty((0, 2), dtype=np.int64)
    return _distinct_pairs(np.asarray(order, dtype=np.int64)[np.asarray(position_pairs, dtype=np.int64)])


def _distinct_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct ``(i, j)`` rows with ``i < j``, sorted: each pair as one 64-bit key ``i·2³² + j``
    (a one-dimensional sort, many times faster than ``np.unique(axis=0)``'s row sort)."""
    low, high = pairs.min(axis=1).astype(np.int64), pairs.max(axis=1).astype(np.int64)
    keys = np.unique(((low << 32) | high)[low != high])
    return np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1)


def _clustered(size: int, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, members): each document's connected component in the graph ``pairs`` draws on
    ``0..size-1`` (a sparse-graph kernel, no Python object per document or pair), and the documents,
    ascending, whose component has two or more."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(size, size))
    labels = connected_components(graph.tocsr(), directed=True, connection="weak")[1]
    return labels, np.flatnonzero(np.bincount(labels)[labels] >= 2)


def _components(size: int, pairs: np.ndarray) -> list[list[int]]:
    """Connected components (of two or more) of documents ``0..size-1`` joined by ``pairs``."""
    labels, members = _clustered(size, pairs)
    order = members[np.argsort(labels[members], kind="stable")]
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return [group.tolist() for group in np.split(order, cuts)] if len(order) else []


def cluster_keepers(size: int, pairs: np.ndarray, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dropped, kept): every document of a cluster (a connected component of ``pairs`` over
    ``0..size-1``) but its best, by ascending number, beside the cluster's best (the lowest
    ``position``, the keep rule's order)."""
    labels, members = _clustered(size, pairs)
    if not len(members):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    by_cluster = members[np.lexsort((position[members], labels[members]))]  # each cluster's best first
    first = np.concatenate([[True], labels[by_cluster][1:] != labels[by_cluster][:-1]])
    best_of = np.empty(labels.max() + 1, dtype=np.int64)
    best_of[labels[by_cluster[first]]] = by_cluster[first]
    best = best_of[labels[members]]
    dropped = members != best
    return members[dropped], best[dropped]
