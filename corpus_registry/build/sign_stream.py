"""The text stages of a build, streamed: quality filters and MinHash signing start on the first
page of candidates while the registry is still being read, then exact and near dedup decide.

Each page's survivors of the metadata stages become :class:`~.tasks.SignTask` chunks (in store
order within the page) as soon as the page is read, so the workers filter and sign while the
driver reads on. Exact duplicates are not known until every candidate is read, so a text is signed
the first time it is met (by the first 8 bytes of its hash); identical texts have identical
signatures, and after exact dedup each signature stands for its group's keeper. A text never
signed because another one shared those 8 bytes is signed at the end. Filters drop identical
texts alike, so the results are those of deciding exact dedup first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus_registry.build.candidates import CandidateReader, Candidates, hash_heads
from corpus_registry.build.dedup.distributed import grouped_near_dedup
from corpus_registry.build.dedup.spill import SpilledNearDedup
from corpus_registry.build.fates import Fates
from corpus_registry.build.spec import BuildSpec
from corpus_registry.build.tasks import SignResult, SignTask, filter_and_sign
from corpus_registry.executors import Executor

MAX_DOCS = 2000  # documents per sign task


class SignStream:
    """Sign tasks made from pages as they are read, and what their results said, until
    :meth:`finish` decides exact and near dedup. ``memory``: the build's budget (None: none), which
    sizes the tasks and, with ``spill``, keeps near dedup's state in files there."""

    def __init__(self, spec: BuildSpec, store_url: str, *, memory: int | None, spill: Path | None) -> None:
        self.spec, self.store_url = spec, store_url
        self.minhash = (spec.dedup.num_perm, spec.dedup.ngram, spec.dedup.seed) if spec.dedup.near else None
        self.filters = spec.filters.model_dump(mode="json")
        # within a budget, a task's texts take at most 1/256 of it in a worker, signed a quarter of a
        # megabyte of text at a time, its store cache 1/64 (batches and caches change no result)
        self.max_bytes = 64 << 20 if memory is None else max(1 << 20, min(64 << 20, memory // 256))
        self.extra: dict[str, Any] = {} if memory is None else {"batch_chars": 1 << 18, "store_cache": memory // 64}
        self.near = spec.dedup.near_dedup() if spec.dedup.near and spill is None else None
        self.spilled = (SpilledNearDedup(folder=spill, memory=(memory or 0) // 16, threshold=spec.dedup.threshold,
                                         num_perm=spec.dedup.num_perm, seed=spec.dedup.seed)
                        if spec.dedup.near and spill is not None else None)
        self._seen = np.empty(0, dtype=np.uint64)  # first 8 bytes of every text a task signs
        self._drops: dict[tuple[str, str], list[np.ndarray]] = {}
        self._passed: list[np.ndarray] = []
        self._signed: list[np.ndarray] = []  # candidate rows, in the order near dedup numbers them
        self._quality: list[np.ndarray] = []
        if self.spilled is not None:  # the workers compute the band bucket ids the spill files
            self.extra["lsh"] = (self.spilled.bands, self.spilled.rows)
        self.size = 0  # signatures added

    def tasks(self, reader: CandidateReader, fates: Fates,
              on_page: Callable[[pa.Table, Fates], None]) -> Iterator[SignTask]:
        """Read ``reader`` page by page; ``on_page`` decides each page's metadata stages into its
        fates; the survivors' sign tasks are yielded before the next page is read."""
        for page, first in reader.pages():
            page_fates = fates.page(page.num_rows)
            on_page(page, page_fates)
            alive = np.flatnonzero(page_fates.stage < 0)
            if len(alive):
                yield from self._page_tasks(page.take(pa.array(alive)), first + alive)

    def _page_tasks(self, page: pa.Table, rows: np.ndarray) -> Iterator[SignTask]:
        prefix = hash_heads(page["sha256"])
        sign = np.zeros(len(rows), dtype=bool)
        if self.minhash is not None:
            order = np.argsort(prefix, kind="stable")
            ordered = prefix[order]
            first = order[np.concatenate([[True], ordered[1:] != ordered[:-1]])]  # each text's first row
            distinct = prefix[first]
            at = np.minimum(np.searchsorted(self._seen, distinct), max(0, len(self._seen) - 1))
            new = ~(self._seen[at] == distinct) if len(self._seen) else np.ones(len(distinct), dtype=bool)
            sign[first[new]] = True
            # two sorted runs: a stable sort merges them in one pass
            self._seen = np.sort(np.concatenate([self._seen, np.sort(distinct[new])]), kind="stable")
        order = pc.sort_indices(pa.table({"shard": page["shard"], "prefix": prefix, "row": rows}),
                                sort_keys=[("shard", "ascending"), ("prefix", "ascending"),
                                           ("row", "ascending")]).to_numpy()
        yield from self._chunks(page, rows, sign, order)

    def _chunks(self, page: pa.Table, rows: np.ndarray, sign: np.ndarray, order: np.ndarray) -> Iterator[SignTask]:
        """Tasks of ``order``'s rows: each ends at its MAX_DOCS-th document or at the one that
        brings it to ``max_bytes``."""
        sizes = np.cumsum(page["bytes"].to_numpy()[order])
        start = 0
        while start < len(order):
            before = sizes[start - 1] if start else 0
            end = min(start + MAX_DOCS, int(np.searchsorted(sizes, before + self.max_bytes)) + 1, len(order))
            these = pa.array(order[start:end])
            items = pa.table({"index": pa.array(rows[order[start:end]]),
                              **{name: page[name].take(these) for name in ("sha256", "shard", "words", "language",
                                                                           "date")},
                              "sign": pa.array(sign[order[start:end]])})
            yield SignTask(self.store_url, self.filters, self.minhash, items, **self.extra)
            start = end

    def collect(self, res: SignResult) -> None:
        """Keep what one task found: its filter drops, what passed, its signatures."""
        by_reason: dict[tuple[str, str], list[int]] = {}
        for i, stage, reason in res.dropped:
            by_reason.setdefault((stage, reason), []).append(i)
        for key, where in by_reason.items():
            self._drops.setdefault(key, []).append(np.asarray(where, dtype=np.int64))
        self._passed.append(np.asarray(res.passed, dtype=np.int64))
        if res.signed:
            self._add(np.asarray(res.signed, dtype=np.int64), res.signatures, res.quality, res.band_hashes)

    def _add(self, rows: np.ndarray, signatures: Any, quality: list[float], hashes: Any = None) -> None:
        provisional = np.arange(self.size, self.size + len(rows))  # ranked again in finish()
        if self.near is not None:
            self.near.add_signatures(keys=[str(i) for i in provisional.tolist()], signatures=signatures,
                                     ranks=provisional.tolist(), unique=True)
        if self.spilled is not None:
            self.spilled.add_signatures(signatures, provisional, hashes)
        self._signed.append(rows)
        self._quality.append(np.asarray(quality, dtype=np.float64))
        self.size += len(rows)

    def finish(self, cands: Candidates, fates: Fates, executor: Executor,
               keep_ranks: Callable[[Candidates, np.ndarray, np.ndarray | None], np.ndarray],
               exact_duplicates: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> None:
        """Filter drops, then exact dedup (decided over every survivor of the metadata stages, by
        the keep rule), then near dedup over one signature per distinct text, standing for its
        group's keeper."""
        rows = fates.alive()  # survivors of the metadata stages, ascending: position -> row
        ranks = keep_ranks(cands, rows, None)
        if self.spec.dedup.exact:
            exact_of = exact_duplicates(cands.sha256_bytes().view(np.uint64).reshape(-1, 4), rows, ranks)
        else:
            exact_of = np.full(len(rows), -1, dtype=rows.dtype)
        for (stage, reason), where in self._drops.items():
            fates.drop(np.concatenate(where), stage, reason)
        self._drops = {}
        passed = (np.searchsorted(rows, np.concatenate(self._passed)).astype(rows.dtype) if self._passed
                  else np.empty(0, rows.dtype))
        self._passed = []
        exact = passed[exact_of[passed] >= 0]
        if len(exact):
            fates.drop(rows[exact], "exact_dedup", "exact duplicate")
            fates.duplicate_of[rows[exact]] = rows[exact_of[exact]]
            fates.similarity[rows[exact]] = 1.0
        if self.minhash is None:
            return
        keeper = np.where(exact_of >= 0, exact_of, np.arange(len(rows), dtype=rows.dtype))  # position -> its keeper
        self._sign_missing(cands, rows, passed, keeper, exact_of, executor)
        signed = keeper[np.searchsorted(rows, np.concatenate(self._signed))] if self._signed else \
            np.empty(0, dtype=rows.dtype)  # signature number -> keeper position
        del keeper
        quality = np.full(len(rows), np.nan)
        if len(signed):
            quality[signed] = np.concatenate(self._quality)
        self._signed, self._quality = [], []  # (held as ``signed`` and ``quality`` now)
        final = keep_ranks(cands, rows, quality)[signed]  # a duplicate keeps the better text
        if self.near is not None:
            self.near.set_ranks(final.tolist())
            # An executor that can group rows (Ray: a distributed shuffle) groups the LSH buckets; same clusters.
            result = (grouped_near_dedup(self.near, executor) if hasattr(executor, "map_groups")  # type: ignore[arg-type]
                      else self.near.finalize(threads=executor.workers))
            dups = result.duplicate_of  # keys are signature numbers
            dropped = rows[signed[np.array([int(k) for k in dups], dtype=np.int64)]]
            kept = rows[signed[np.array([int(d.kept_key) for d in dups.values()], dtype=np.int64)]]
            similarity: Any = [d.similarity for d in dups.values()]
        else:
            assert self.spilled is not None
            self.spilled.set_ranks(final)
            found = self.spilled.finalize(run=executor.map)  # the bands are paired in the workers
            dropped, kept, similarity = rows[signed[found.dropped]], rows[signed[found.kept]], found.similarity
        fates.drop(dropped, "near_dedup", "near duplicate")
        fates.duplicate_of[dropped] = kept
        fates.similarity[dropped] = similarity
        # An exact duplicate whose keeper was dropped by near dedup points at the final keeper.
        exact_rows = np.flatnonzero(fates.stage == fates.stages.index("exact_dedup"))
        keepers = fates.duplicate_of[exact_rows]
        moved = fates.stage[keepers] == fates.stages.index("near_dedup")
        fates.duplicate_of[exact_rows[moved]] = fates.duplicate_of[keepers[moved]]

    def _sign_missing(self, cands: Candidates, rows: np.ndarray, passed: np.ndarray, keeper: np.ndarray,
                      exact_of: np.ndarray, executor: Executor) -> None:
        """Sign each passed text no task signed (another text shared its first 8 bytes)."""
        has = np.zeros(len(rows), dtype=bool)
        if self._signed:
            has[keeper[np.searchsorted(rows, np.concatenate(self._signed))]] = True
        missing = passed[(exact_of[passed] < 0) & ~has[passed]]
        if not len(missing):
            return
        at = rows[missing]
        page = pa.table({"sha256": cands.sha256_hex(at), "shard": cands.strings("shard", at),
                         "words": pa.array(cands.numpy("words")[at], pa.int64()),
                         "language": cands.strings("language", at), "date": cands.strings("date", at),
                         "bytes": pa.array(cands.numpy("bytes")[at], pa.int64())})
        tasks = self._chunks(page, at, np.ones(len(at), dtype=bool), np.arange(len(at)))
        for res in executor.map(filter_and_sign, tasks):
            if res.signed:
                self._add(np.asarray(res.signed, dtype=np.int64), res.signatures, res.quality, res.band_hashes)

    def close(self) -> None:
        """Forget what the stream kept and delete near dedup's files (once :meth:`finish` decided)."""
        self._seen, self._signed, self._quality, self._passed, self._drops = np.empty(0, dtype=np.uint64), [], [], [], {}
        self.near = None
        if self.spilled is not None:
            self.spilled.close()


