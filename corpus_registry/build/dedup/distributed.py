"""Near dedup whose LSH buckets are grouped by an executor's shuffle (Ray) instead of in memory.

One ``(band, slot, bucket, position)`` row per document and band goes to the executor's
``map_groups``, grouped so that every bucket of every band lands whole in one call; the members of
each bucket are paired by the rule of the local LSH index (:func:`.lsh.bucket_pairs`) and the
clusters are resolved on the driver by :meth:`.NearDedup.resolve`: the same candidate pairs,
verification, union-find and keep rule as :meth:`.NearDedup.finalize`. The group key is
``(band, slot)`` with ``slot = bucket mod S``, not ``(band, bucket)``: a group costs one Python
call, and almost every bucket holds one document, so one group per bucket cost ≈5 s per 100k rows
on two cores; a slot holds up to ~1M rows, paired in one vectorised call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import pyarrow as pa

from corpus_registry.build.dedup.keep import DedupResult
from corpus_registry.build.dedup.lsh import bucket_pairs, document_pairs
from corpus_registry.build.dedup.near import NearDedup

DOCS_PER_SLOT = 1_000_000  # rows of one (band, slot) group, paired in one call
ROWS_PER_INPUT_BLOCK = 1_000_000


class GroupingExecutor(Protocol):
    workers: int

    def map_groups(self, tables: list[pa.Table], *, by: list[str],
                   fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
        ...


def grouped_near_dedup(near: NearDedup, executor: GroupingExecutor, *,
                       docs_per_slot: int = DOCS_PER_SLOT) -> DedupResult:
    """``near.finalize()``'s result, with the buckets grouped by ``executor``.

    ``docs_per_slot`` sizes the groups; any value gives the same result."""
    order = near.canonical_order()
    n = int(order.size)
    if n < 2:
        return near.resolve(np.empty((0, 2), dtype=np.int64), order=order)
    buckets = near.index.bucket_ids()
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    bands = buckets.shape[1]
    slots = np.uint64(math.ceil(n / max(1, docs_per_slot)))
    step = max(1, min(ROWS_PER_INPUT_BLOCK // bands, math.ceil(n / executor.workers)))  # >= a block per worker
    tables = []
    for start in range(0, n, step):
        block = np.ascontiguousarray(buckets[start : start + step]).ravel()
        tables.append(pa.table({
            "band": np.tile(np.arange(bands, dtype=np.int32), block.size // bands),
            "slot": (block % slots).astype(np.int32),
            "bucket": block,
            "position": np.repeat(position[start : start + step], bands),
        }))
    found = [np.stack([b["first"], b["second"]], axis=1)
             for b in executor.map_groups(tables, by=["band", "slot"], fn=slot_pairs)]
    found = [f for f in found if len(f)]
    position_pairs = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    return near.resolve(document_pairs(order, position_pairs), order=order)


def slot_pairs(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runs where the executor puts it: the candidate position pairs of the whole buckets of one group."""
    bucket, members = group["bucket"], group["position"]
    sort = np.argsort(bucket, kind="stable")
    bucket, members = bucket[sort], members[sort]
    cuts = np.flatnonzero(bucket[1:] != bucket[:-1]) + 1
    offsets = np.concatenate([[0], cuts, [bucket.size]])
    pairs = bucket_pairs(offsets, members)
    return {"first": pairs[:, 0], "second": pairs[:, 1]}
