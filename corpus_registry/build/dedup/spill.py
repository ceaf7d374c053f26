"""Near dedup out of core: signatures and LSH band buckets spilled to files, merged band by band.

:class:`~.near.NearDedup` holds every document's 16-bit signature and band bucket ids in memory
(~0.7 KB per document at 256 permutations). Here each batch is appended to files instead: one
file of 16-bit signatures and one of bucket ids per band. Band by band, the bucket ids are
partitioned by ``bucket mod P`` into files small enough for the memory budget, each partition is
sorted and paired (the rule of :func:`.lsh.bucket_pairs`, as the distributed executor does), and
the candidate pairs of every band are merged; the signatures of the documents in a candidate
pair are then read back in one sequential pass. The candidates, verification, union-find and
keep rule are those of :meth:`.NearDedup.finalize`, so the result is the same, document for
document and digit for digit.

Documents are numbered in the order they are added and ranked by integer positions the caller
gives (the keep rule applied to the whole build at once); the result is given by number.
"""

from __future__ import annotations

import math
import mmap
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus_registry.build.dedup.distributed import slot_pairs
from corpus_registry.build.dedup.lsh import _distinct_pairs, choose_bands, cluster_keepers
from corpus_registry.build.dedup.minhash import _U64, _constants, _mix

__all__ = ["BandTask", "SpilledNearDedup", "SpilledResult", "band_pairs"]

Runner = Callable[[Callable[["BandTask"], np.ndarray], Iterable["BandTask"]], Iterator[np.ndarray]]
_PARTS = 256  # partitions of a band (files open at once): a band of 500 M documents in parts of 2 M (32 MB)
_PAIR_FLUSH = 1 << 22  # candidate pairs held before they are made distinct again


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
        self._row_mult = _constants(seed ^ 0x5EED, self.rows) | _U64(1)
        self.num_perm = num_perm
        self.memory = max(1, memory)
        folder.mkdir()
        self.folder = folder
        self._signatures = (folder / "signatures.u16").open("wb")
        self._bands = [(folder / f"band-{b:03d}.u64").open("wb") for b in range(self.bands)]
        self._ranks: list[np.ndarray] = []
        self.size = 0

    def add_signatures(self, signatures: np.ndarray, ranks: np.ndarray) -> None:
        """Append a batch signed elsewhere (rows of ``signatures``), ranked by the keep rule."""
        if signatures.shape != (len(ranks), self.num_perm):
            raise ValueError(f"signatures have shape {signatures.shape}, expected ({len(ranks)}, {self.num_perm})")
        n = len(ranks)
        width = self.bands * self.rows
        blocks = signatures[:, :width].reshape(n, self.bands, self.rows).astype(_U64)
        hashes = _mix(np.asarray(np.sum(blocks * self._row_mult, axis=2, dtype=_U64)))  # as LSHIndex.band_hashes
        for band, f in enumerate(self._bands):
            f.write(np.ascontiguousarray(hashes[:, band]).tobytes())
        self._signatures.write(np.ascontiguousarray(signatures.astype(np.uint16)).tobytes())
        self._ranks.append(np.asarray(ranks, dtype=np.int64))
        self.size += n

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
        order = np.argsort(ranks, kind="stable")  # position -> document, best first
        del ranks
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        position.tofile(self.folder / "position.i64")
        # each worker holds a band part and the positions: the budget is shared among them
        tasks = [BandTask(str(self.folder), band, n, self.memory // 2) for band in range(self.bands)]
        candidates = np.empty((0, 2), dtype=np.int64)
        pending: list[np.ndarray] = []
        held = 0
        for pairs in (run or map)(band_pairs, tasks):
            pending.append(order[pairs])  # document pairs
            held += len(pairs)
            if held >= _PAIR_FLUSH:
                candidates = _distinct_pairs(np.concatenate([candidates, *pending]))
                pending, held = [], 0
        if pending or len(candidates):
            candidates = _distinct_pairs(np.concatenate([candidates, *pending]))
        del pending
        return self._resolve(candidates, position)

    def _resolve(self, candidates: np.ndarray, position: np.ndarray) -> SpilledResult:
        """Verify, join and keep the best of each cluster, as :meth:`.NearDedup.resolve` does, with
        the signatures read from their file a chunk of pairs at a time."""
        with _MappedSignatures(self.folder / "signatures.u16", self.num_perm) as signatures:
            verified = candidates[signatures.similarities(candidates) >= self.verify_threshold]
            dropped, kept = cluster_keepers(self.size, verified, position)
            sims = [round(s, 4) for s in signatures.similarities(np.stack([dropped, kept], axis=1)).tolist()]
        return SpilledResult(dropped, kept, sims)

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
        return _pairs(bucket, position)
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
    return np.concatenate(found)


def _pairs(bucket: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Position pairs of whole buckets (:func:`.distributed.slot_pairs`)."""
    found = slot_pairs({"bucket": bucket, "position": members})
    return np.stack([found["first"], found["second"]], axis=1)


class _MappedSignatures:
    """The 16-bit signatures file, mapped: a chunk of pairs gathers its rows, and the pages it
    touched are then let go (the page cache keeps them), so resident memory holds one chunk's."""

    def __init__(self, path: Path, num_perm: int) -> None:
        self.num_perm = num_perm
        self._file = path.open("rb")
        size = path.stat().st_size
        self._map = mmap.mmap(self._file.fileno(), size, access=mmap.ACCESS_READ) if size else None
        self._rows: np.ndarray | None = (np.frombuffer(self._map, dtype=np.uint16).reshape(-1, num_perm)
                                         if self._map is not None else None)

    def __enter__(self) -> _MappedSignatures:
        return self

    def __exit__(self, *exc: object) -> None:
        self._rows = None  # the array borrows the map's memory: gone before the map closes
        if self._map is not None:
            self._map.close()
        self._file.close()

    def similarities(self, pairs: np.ndarray) -> np.ndarray:
        """As :meth:`.NearDedup._similarities`, for pairs of document numbers."""
        out = np.empty(len(pairs), dtype=np.float64)
        if not len(pairs):
            return out
        assert self._rows is not None and self._map is not None
        step = max(1, (1 << 24) // self.num_perm)
        for s in range(0, len(pairs), step):
            chunk = pairs[s:s + step]
            equal = (self._rows[chunk[:, 0]] == self._rows[chunk[:, 1]]).mean(axis=1)
            out[s:s + step] = np.clip((equal - 2**-16) / (1 - 2**-16), 0.0, 1.0)
            if hasattr(self._map, "madvise"):
                self._map.madvise(mmap.MADV_DONTNEED)
        return out
