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
