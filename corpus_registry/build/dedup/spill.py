"""Near dedup out of core: signatures and LSH band buckets spilled to files, merged band by band.

:class:`~.near.NearDedup` holds every document's 16-bit signature and band bucket ids in memory
(~0.7 KB per document at 256 permutations). Here each batch is appended to files instead: one
file of 16-bit signatures and one of bucket ids per band. Band by band, the bucket ids are
partitioned by ``bucket mod P`` into files small enough for the memory budget, each partition is
sorted and paired (the rule of :func:`.lsh.bucket_pairs`, as the distributed executor does), and
the candidate pairs of every band are merged; each pair is then verified by joining it with the
signature file out of core (two sequential passes, buckets on disk: :func:`_similarities`). The
candidates, verification, clusters and keep rule are those of :meth:`.NearDedup.finalize`, so the
result is the same, document for document and digit for digit.

Documents are numbered in the order they are added and ranked by integer positions the caller
gives (the keep rule applied to the whole build at once); the result is given by number.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus_registry.build.dedup.distributed import slot_pairs
from corpus_registry.build.dedup.lsh import _distinct_pairs, band_hashes, choose_bands, cluster_keepers, row_multipliers
from corpus_registry.build.dedup.minhash import _U64
from corpus_registry.build.fates import row_type

__all__ = ["BandTask", "SpilledNearDedup", "SpilledResult", "band_pairs"]

Runner = Callable[[Callable[["BandTask"], np.ndarray], Iterable["BandTask"]], Iterator[np.ndarray]]
_PARTS = 256  # partitions of a band (files open at once): a band of 500 M documents in parts of 2 M (32 MB)
_PAIR_FLUSH_MIN = 1 << 16  # candidate pairs held, at least, before they are made distinct again


@dataclass(slots=True)
class SpilledResult:
    """Per dropped document (by number, ascending): the number of the one it duplicates, and how closely."""

    dropped: np.ndarray
    kept: np.ndarray
    similarity: list[float]


class SpilledNearDedup:
    """Near-duplicate detection whose per-document state lives in files under ``folder``.

    ``memory`` (bytes) bounds what is held at once while buckets are paired; the folder is made
    here and :meth:`close` deletes it (and nothing else)."""

    def __init__(self, *, folder: Path, memory: int, threshold: float = 0.8, num_perm: int = 256,
                 seed: int = 1) -> None:
        self.threshold = threshold
        sigma = math.sqrt(threshold * (1 - threshold) / num_perm)
        self.verify_threshold = max(0.0, threshold - 2 * sigma)  # as NearDedup's default
        self.bands, self.rows = choose_bands(num_perm=num_perm, threshold=self.verify_threshold)
        self._row_mult = row_multipliers(self.rows, seed)
        self.num_perm = num_perm
        self.memory = max(1, memory)
        folder.mkdir()
        self.folder = folder
        self._signatures = (folder / "signatures.u16").open("wb")
        self._bands = [(folder / f"band-{b:03d}.u64").open("wb") for b in range(self.bands)]
        self._ranks: list[np.ndarray] = []
        self.size = 0

    def add_signatures(self, signatures: np.ndarray, ranks: np.ndarray, hashes: np.ndarray | None = None) -> None:
        """Append a batch signed elsewhere (rows of ``signatures``), ranked by the keep rule.
        ``hashes``: their band bucket ids, if the signer computed them (:func:`.lsh.band_hashes` with
        :attr:`bands`, :attr:`rows` and the seed); only the signatures' low 16 bits are then read."""
        if signatures.shape != (len(ranks), self.num_perm):
            raise ValueError(f"signatures have shape {signatures.shape}, expected ({len(ranks)}, {self.num_perm})")
        if hashes is None:
            hashes = band_hashes(signatures, bands=self.bands, rows=self.rows, multipliers=self._row_mult)
        elif hashes.shape != (len(ranks), self.bands):
            raise ValueError(f"band hashes have shape {hashes.shape}, expected ({len(ranks)}, {self.bands})")
        for band, f in enumerate(self._bands):
            f.write(np.ascontiguousarray(hashes[:, band]).tobytes())
        self._signatures.write(np.ascontiguousarray(signatures.astype(np.uint16, copy=False)).tobytes())
        self._ranks.append(np.asarray(ranks, dtype=np.int64))
        self.size += len(ranks)

    def set_ranks(self, ranks: np.ndarray) -> None:
        """Rank every document added (in the order added) afresh, before :meth:`finalize`."""
        if len(ranks) != self.size:
            raise ValueError(f"{len(ranks)} ranks for {self.size} documents")
        self._ranks = [np.asarray(ranks, dtype=np.int64)]

    def finalize(self, run: Runner | None = None) -> SpilledResult:
        """The clusters of everything added, as :meth:`.NearDedup.finalize` finds them. ``run``
        maps :func:`band_pairs` over the bands (an executor's ``map``: the bands are paired in its
        workers, each reading its band's file); None: here, one band after the other."""
        for f in [self._signatures, *self._bands]:
            f.close()
        n = self.size
        ranks = np.concatenate(self._ranks) if self._ranks else np.empty(0, dtype=np.int64)
        self._ranks = []
        order = np.argsort(ranks, kind="stable").astype(row_type(n))  # position -> document, best first
        del ranks
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        position.tofile(self.folder / "position.i64")
        # each worker holds a band part and the positions: the budget is shared among them
        tasks = [BandTask(str(self.folder), band, n, self.memory // 2) for band in range(self.bands)]
        candidates = np.empty((0, 2), dtype=np.int64)
        pending: list[np.ndarray] = []
        held = 0
        flush = max(_PAIR_FLUSH_MIN, self.memory // 64)  # raw pairs held before they are made distinct (~40 B each)
        for pairs in (run or map)(band_pairs, tasks):
            pending.append(order[pairs])  # document pairs
            held += len(pairs)
            if held >= flush:
                candidates = _distinct_pairs(np.concatenate([candidates, *pending]))
                pending, held = [], 0
        if pending or len(candidates):
            candidates = _distinct_pairs(np.concatenate([candidates, *pending]))
        del pending
        return self._resolve(candidates, position)

    def _resolve(self, candidates: np.ndarray, position: np.ndarray) -> SpilledResult:
        """Verify, join and keep the best of each cluster, as :meth:`.NearDedup.resolve` does; the
        pairs' signatures are joined from their file out of core (:func:`_similarities`)."""
        path = self.folder / "signatures.u16"
        verified = candidates[_similarities(path, self.num_perm, self.size, candidates, self.memory)
                              >= self.verify_threshold]
        dropped, kept = cluster_keepers(self.size, verified, position)
        sims = _similarities(path, self.num_perm, self.size, np.stack([dropped, kept], axis=1), self.memory)
        return SpilledResult(dropped, kept, [round(s, 4) for s in sims.tolist()])

    def close(self) -> None:
        """Delete the folder this made, with the files it wrote."""
        for f in [self._signatures, *self._bands]:
            f.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class BandTask:
    """One band of a spilled near dedup to pair: its bucket file in ``folder``, beside ``position.i64``."""

    folder: str
    band: int
    size: int
    memory: int


def band_pairs(task: BandTask) -> np.ndarray:
    """Candidate position pairs of one band, its buckets partitioned by ``bucket mod P`` into files
    small enough for ``task.memory``, each paired whole; the band's files are then deleted."""
    folder, n, memory = Path(task.folder), task.size, max(1, task.memory)
    position = np.fromfile(folder / "position.i64", dtype=np.int64)
    path = folder / f"band-{task.band:03d}.u64"
    # ~64 bytes per document while a part is paired; at most _PARTS files open at once
    parts = min(_PARTS, max(1, math.ceil(n * 64 / memory)))
    step = max(1024, memory // 64)  # documents read at once
    if parts == 1:
        bucket = np.fromfile(path, dtype=_U64)
        path.unlink()
        return _narrow_pairs(_pairs(bucket, position), n)
    outs = [(folder / f"band-{task.band:03d}-part-{p:04d}").open("wb") for p in range(parts)]
    with path.open("rb") as f:
        for start in range(0, n, step):
            bucket = np.fromfile(f, dtype=_U64, count=min(step, n - start))
            part = (bucket % _U64(parts)).astype(np.int64)
            sort = np.argsort(part, kind="stable")
            cuts = np.searchsorted(part[sort], np.arange(parts + 1))
            members = position[start:start + len(bucket)]
            for p, out in enumerate(outs):
                these = sort[cuts[p]:cuts[p + 1]]
                if len(these):
                    out.write(np.stack([bucket[these].view(np.int64), members[these]], axis=1).tobytes())
    path.unlink()
    del position
    found = [np.empty((0, 2), dtype=np.int64)]
    for out in outs:
        out.close()
        part_path = Path(out.name)
        rows = np.fromfile(part_path, dtype=np.int64).reshape(-1, 2)
        part_path.unlink()
        if len(rows) > 1:
            found.append(_pairs(rows[:, 0].view(_U64), rows[:, 1]))
    return _narrow_pairs(np.concatenate(found), n)


def _narrow_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Position pairs in 4 bytes each below 2³¹ documents: half the memory of a band's result
    while it waits in the driver for its turn."""
    return pairs.astype(row_type(n), copy=False)


def _pairs(bucket: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Position pairs of whole buckets (:func:`.distributed.slot_pairs`)."""
    found = slot_pairs({"bucket": bucket, "position": members})
    return np.stack([found["first"], found["second"]], axis=1)


def _similarities(path: Path, num_perm: int, size: int, pairs: np.ndarray, memory: int) -> np.ndarray:
    """As :meth:`.NearDedup._similarities`, for pairs of rows of the signature file at ``path``,
    joined out of core: the file is read in blocks, once to send each pair's first signature to a
    bucket file by its second's block, then once more, each block beside its bucket. Memory holds
    a block and a chunk of a bucket, whatever the number of pairs; random reads never happen."""
    out = np.empty(len(pairs), dtype=np.float64)
    if not len(pairs):
        return out
    row_bytes = 2 * num_perm
    block = max(1, memory // 4 // row_bytes, -(-size // _PARTS))  # rows read at once; at most _PARTS buckets
    chunk = max(1, memory // 4 // (row_bytes + 8))  # pairs gathered or compared at once
    record = np.dtype([("pair", np.int64), ("signature", np.uint16, (num_perm,))])
    first, second = pairs[:, 0], pairs[:, 1]
    folder = path.parent / f"{path.stem}-join"
    folder.mkdir()
    try:
        by_first = np.argsort(first, kind="stable")
        cuts = np.searchsorted(first[by_first], np.arange(0, size + block, block))
        buckets: dict[int, Any] = {}
        with path.open("rb") as f:
            for b, start in enumerate(range(0, size, block)):
                rows = np.fromfile(f, dtype=np.uint16, count=min(block, size - start) * num_perm).reshape(-1, num_perm)
                for lo in range(int(cuts[b]), int(cuts[b + 1]), chunk):
                    these = by_first[lo:min(lo + chunk, int(cuts[b + 1]))]
                    sent = np.empty(len(these), dtype=record)
                    sent["pair"], sent["signature"] = these, rows[first[these] - start]
                    target = second[these] // block
                    for t in np.unique(target).tolist():
                        if t not in buckets:
                            buckets[t] = (folder / f"{t:05d}").open("wb")
                        buckets[t].write(sent[target == t].tobytes())
        for handle in buckets.values():
            handle.close()
        with path.open("rb") as f:
            for b, start in enumerate(range(0, size, block)):
                rows = np.fromfile(f, dtype=np.uint16, count=min(block, size - start) * num_perm).reshape(-1, num_perm)
                if b not in buckets:
                    continue
                with (folder / f"{b:05d}").open("rb") as bucket:
                    while len(got := np.fromfile(bucket, dtype=record, count=chunk)):
                        equal = (got["signature"] == rows[second[got["pair"]] - start]).mean(axis=1)
                        out[got["pair"]] = np.clip((equal - 2**-16) / (1 - 2**-16), 0.0, 1.0)
                (folder / f"{b:05d}").unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out
