"""Identifiers unique within a source, checked before an ingest writes anything.

Workers each read a share of a source, so a duplicate identifier can sit in two shares that never
meet. Ingest therefore first lists the identifiers (readers read as little as they can: file names,
one JSON field, an id column) as 64-bit hashes, one array per share, and looks for a repeated hash
across all of them. Only when there is one does it read the identifiers again, in reading order, to
name the first real duplicate and both its places: the same error whatever the worker count, and
nothing committed.
"""

from __future__ import annotations

import unicodedata
from array import array
from collections.abc import Iterable

import numpy as np
import xxhash

from corpus_registry.errors import ReaderError
from corpus_registry.registry.readers import Reader

HINT = "identifiers must be unique within a source: fix the data or the reader's id option"


def identifier_key(identifier: str) -> int:
    """The 64-bit hash of an NFC identifier (how an identifier is compared while ingesting); a lone
    surrogate is hashed too, and refused later with the document named (:mod:`.fields`)."""
    return xxhash.xxh64_intdigest(unicodedata.normalize("NFC", identifier).encode("utf-8", "surrogatepass"))


def scan(reader: Reader) -> bytes:
    """The hashes of the identifiers ``reader`` (one partition) yields, as packed uint64."""
    keys = array("Q")
    for identifier, _where in reader.identifiers():
        keys.append(identifier_key(identifier))
    return keys.tobytes()


def suspects(parts: Iterable[bytes]) -> set[int]:
    """Hashes that occur more than once across all partitions."""
    keys = np.concatenate([np.frombuffer(p, dtype=np.uint64) for p in parts] or [np.empty(0, np.uint64)])
    keys.sort()
    return {int(k) for k in np.unique(keys[1:][keys[1:] == keys[:-1]])}


def first_duplicate(reader: Reader, keys: set[int]) -> tuple[str, str, str] | None:
    """``(identifier, first place, second place)`` of the first identifier seen twice, reading the
    whole source in order and remembering only identifiers whose hash is in ``keys``."""
    seen: dict[str, str] = {}
    for identifier, where in reader.identifiers():
        identifier = unicodedata.normalize("NFC", identifier)
        if identifier_key(identifier) not in keys:
            continue
        if identifier in seen:
            return identifier, seen[identifier], where
        seen[identifier] = where
    return None


def duplicate_error(slug: str, identifier: str, first: str, second: str) -> ReaderError:
    return ReaderError(f"{slug}: duplicate identifier {identifier!r} ({first} and {second}); nothing was ingested",
                       hint=HINT, source=slug, identifier=identifier)


class SeenKeys:
    """64-bit keys met so far, 8 bytes each (a Python set of them costs ~70): sorted runs whose
    sizes halve from the oldest, merged as they fill. What an ingest worker remembers of the
    identifiers of its partition, whatever its size; asked a batch at a time (one search per run
    for the whole batch, not one per key)."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def add_all(self, keys: np.ndarray) -> int | None:
        """Remember ``keys`` (uint64); the position of the first one met before (in an earlier call,
        or earlier in ``keys``), or None."""
        keys = np.asarray(keys, dtype=np.uint64)
        if not keys.size:
            return None
        order = np.argsort(keys, kind="stable")  # equal keys keep their order: the later ones repeat
        ordered = keys[order]
        again = np.zeros(keys.size, dtype=bool)
        again[order[1:][ordered[1:] == ordered[:-1]]] = True
        for run in self._runs:
            at = np.minimum(np.searchsorted(run, keys), run.size - 1)
            again |= run[at] == keys
        run = np.unique(ordered)
        while self._runs and len(self._runs[-1]) <= 2 * len(run):  # a run at most half the one before it
            run = np.union1d(self._runs.pop(), run)
        self._runs.append(run)
        hits = np.flatnonzero(again)
        return int(hits[0]) if hits.size else None
