"""Exact and near-duplicate removal, with one documented rule for which copy is kept.

Keep rule (exact and near duplicates alike): the kept document of a group is the one with the
**earliest date** (ISO-8601 strings compared as strings; undated documents come after dated
ones), then the **most words**, then the **smallest key**. Keys are unique, so the choice is total
and does not depend on the order documents arrive in.

Near duplicates: MinHash over word 5-gram shingles of *folded* text (NFKD, combining marks
dropped, case folded, ligatures expanded: œ→oe, æ→ae, ß→ss, ﬁ→fi; every run of non-word
characters, ``_`` included, is one separator), so ``Gardens--maison`` and ``Gardens -- maison``,
``Monde?`` and ``Monde ?``, ``é`` and ``e`` give the same tokens. Hashing is vectorised numpy:
token hashes are polynomial hashes over code points computed for a whole batch at once, a
shingle hash mixes n token hashes, and permutation k is ``(a_k·x + b_k) mod 2^64 >> 32``
(multiply-add-shift) followed by a segment minimum per document.

LSH: ``bands × rows`` of the signature are hashed into one 64-bit bucket id each. LSH only
proposes candidates; the decision is the estimated Jaccard of the two signatures, compared to
``verify_threshold`` = ``threshold - 2σ`` with σ = sqrt(t(1-t)/num_perm) (0.75 for t = 0.8 and 256
permutations), so that a pair whose true similarity is ``threshold`` is kept apart with only
≈2 % probability, and pairs below ``threshold - 4σ`` are almost never merged. ``rows`` is then
the largest for which a pair at ``verify_threshold`` becomes a candidate with ≥ 99 % probability
(36 bands × 7 rows for the defaults). Candidates are verified, verified pairs joined with
union-find, and each cluster keeps its best document by the keep rule. Each dropped document
records the kept key and their estimated similarity; through a chain (A~B, B~C) that similarity
can be below the threshold.

Memory per document: the key and keep-rule fields, ``bands`` 64-bit bucket ids and the signature
truncated to 16 bits per permutation (~1 KB at the defaults); never the text.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from corpus_registry.filters import BuildDoc

__all__ = [
    "DedupConfig",
    "DedupResult",
    "Duplicate",
    "ExactDedup",
    "LSHIndex",
    "MinHasher",
    "NearDedup",
    "bucket_pairs",
    "choose_bands",
    "document_pairs",
    "estimated_jaccard",
    "fold_tokens",
    "keep_rank",
]

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
_EMPTY = np.uint32(0xFFFFFFFF)


def keep_rank(*, date: str | None, word_count: int, key: str) -> tuple[bool, str, int, str]:
    """Sort key of the keep rule: the smallest rank in a duplicate group is kept."""
    return (date is None, date or "", -word_count, key)


def _doc_rank(doc: BuildDoc) -> tuple[bool, str, int, str]:
    return keep_rank(date=doc.date, word_count=doc.word_count, key=doc.key)


class Duplicate(NamedTuple):
    """Why a document was dropped: the key it duplicates and their (estimated) similarity."""

    kept_key: str
    similarity: float


@dataclass(slots=True)
class DedupResult:
    """Outcome of a dedup stage: kept keys (sorted) and, per dropped key, what it duplicates."""

    kept_keys: list[str]
    duplicate_of: dict[str, Duplicate]
    stats: dict[str, int] = field(default_factory=dict)


class ExactDedup:
    """Documents with the same sha256 (of normalised text): one is kept by the keep rule."""

    name = "exact_dedup"

    def __init__(self) -> None:
        self._ranks: dict[str, tuple[bool, str, int, str]] = {}
        self._by_hash: dict[str, list[str]] = {}

    def add(self, doc: BuildDoc) -> None:
        if doc.key in self._ranks:
            raise ValueError(f"duplicate document key {doc.key!r}: keys must be unique")
        self._ranks[doc.key] = _doc_rank(doc)
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


# ---------------------------------------------------------------------------------------------
# MinHash signatures


def _splitmix64(state: int) -> tuple[int, int]:
    """Next (state, value) of SplitMix64: fixed constants, identical on every platform/version."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def _constants(seed: int, count: int) -> np.ndarray:
    state, out = seed & _MASK64, []
    for _ in range(count):
        state, value = _splitmix64(state)
        out.append(value)
    return np.array(out, dtype=_U64)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised (in place on a fresh array)."""
    x = x ^ (x >> _U64(30))
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


# Multi-character folds done on the string; one-character folds live in the code point table.
_EXPANSIONS = tuple(zip("œŒæÆßẞþÞ", ("oe", "oe", "ae", "ae", "ss", "ss", "th", "th")))
_SINGLE_FOLDS = dict(zip("øØłŁđĐðÐıħĦŧŦ", "oollddddihhtt"))
_DROP = -1
_table: np.ndarray | None = None


def _fold_table() -> np.ndarray:
    """Per BMP code point: folded code point (word character), 0 (separator) or -1 (dropped).

    Letters, digits and spacing marks are word characters, case-folded; combining marks and
    format characters (soft hyphen, zero-width joiners) are dropped; anything else separates.
    Code points beyond the BMP are word characters, kept as they are.
    """
    global _table
    if _table is None:
        table = np.zeros(0x10000, dtype=np.int32)
        for cp in range(0x10000):
            char = chr(cp)
            category = unicodedata.category(char)
            if category[0] in "LN" or category == "Mc":
                folded = _SINGLE_FOLDS.get(char) or char.casefold()
                if len(folded) != 1:
                    folded = char.lower() if len(char.lower()) == 1 else char
                table[cp] = ord(folded)
            elif category in ("Mn", "Me", "Cf"):
                table[cp] = _DROP
        _table = table
    return _table


def _prepare(text: str) -> str:
    if text.isascii():
        return text.replace("\x00", " ") if "\x00" in text else text
    text = unicodedata.normalize("NFKD", text)
    for source, target in _EXPANSIONS:
        if source in text:
            text = text.replace(source, target)
    return text.replace("\x00", " ") if "\x00" in text else text


def _fold_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(folded code points of ``texts`` one after the other, start of each text in them).

    Separators are 0 and dropped marks are removed; texts are joined by a separator.
    """
    joined = "\x00".join(map(_prepare, texts))  # _prepare removed any "\x00" inside a text
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _fold_table()
    if cps.size and int(cps.max()) > 0xFFFF:
        codes = np.where(cps > 0xFFFF, cps.astype(np.int32), table[cps & 0xFFFF])
    else:
        codes = table[cps]
    joints = cps == 0
    keep = codes != _DROP
    if not keep.all():
        codes, joints = codes[keep], joints[keep]
    starts = np.empty(len(texts), dtype=np.int64)
    starts[0] = 0
    starts[1:] = np.flatnonzero(joints) + 1
    return codes, starts


def fold_tokens(text: str) -> list[str]:
    """The tokens near-dup detection compares (folded, punctuation and spacing removed)."""
    codes, _ = _fold_codes([text])
    return codes.astype(np.uint32).tobytes().decode("utf-32-le").replace("\x00", " ").split()


class MinHasher:
    """MinHash signatures (``num_perm`` uint32 values) of word ``ngram`` shingles of folded text.

    Same parameters and seed give the same signatures on every run and platform. A document with
    fewer than ``ngram`` tokens has one shingle (all its tokens); one without tokens gets the
    all-0xFFFFFFFF signature.
    """

    def __init__(
        self, *, num_perm: int = 256, ngram: int = 5, seed: int = 1, batch_chars: int = 1 << 20
    ) -> None:
        if num_perm < 1 or ngram < 1:
            raise ValueError("num_perm and ngram must be at least 1")
        self.num_perm = num_perm
        self.ngram = ngram
        self.seed = seed
        self.batch_chars = batch_chars
        constants = _constants(seed, 2 * num_perm + ngram + 1)
        self._a = constants[:num_perm] | _U64(1)
        self._b = constants[num_perm : 2 * num_perm]
        self._q = constants[2 * num_perm : 2 * num_perm + ngram] | _U64(1)
        self._char_base = int(constants[-1] | _U64(1))
        self._powers = np.ones(1, dtype=_U64)

    def signature(self, text: str) -> np.ndarray:
        return self.signatures([text])[0]

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """Signatures of ``texts`` as a ``(len(texts), num_perm)`` uint32 array."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        start = 0
        while start < len(texts):
            stop, size = start, 0
            while stop < len(texts) and (
                stop == start or size + len(texts[stop]) <= self.batch_chars
            ):
                size += len(texts[stop]) + 1
                stop += 1
            doc_ids, shingles = self._shingles(texts[start:stop])
            out[start:stop] = self._minhash(doc_ids, shingles, stop - start)
            start = stop
        return out

    def shingle_hashes(self, text: str) -> np.ndarray:
        """Sorted distinct 64-bit shingle hashes of one text (for exact Jaccard in tests/benches)."""
        return np.unique(self._shingles([text])[1])

    def _token_hashes(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token hashes, token start positions) of a folded code array."""
        word = codes > 0
        edges = np.diff(word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        lengths = np.flatnonzero(edges == -1) - starts
        if not starts.size:
            return np.empty(0, dtype=_U64), starts
        chars = codes[word].astype(_U64)
        first = np.zeros(starts.size, dtype=np.int64)
        np.cumsum(lengths[:-1], out=first[1:])
        # offset of each character inside its token: +1 per character, reset at token starts
        steps = np.ones(chars.size, dtype=np.int64)
        steps[first] = 1 - np.diff(first, prepend=first[0] - 1)
        steps[0] = 0
        offset = np.cumsum(steps)
        longest = int(lengths.max())
        if self._powers.size < longest:
            powers = np.full(longest, self._char_base, dtype=_U64)
            powers[0] = 1
            self._powers = np.cumprod(powers, dtype=_U64)
        hashes = np.add.reduceat(chars * self._powers[offset], first)
        return _mix(hashes ^ lengths.astype(_U64)), starts

    def _shingles(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document index, shingle hash) of every shingle of ``texts``, grouped by document."""
        codes, doc_starts = _fold_codes(texts)
        tokens, starts = self._token_hashes(codes)
        doc_of_token = np.searchsorted(doc_starts, starts, side="right") - 1
        n = self.ngram
        count = tokens.size - n + 1
        if count > 0:
            shingles = tokens[:count] * self._q[0]
            for k in range(1, n):
                shingles += tokens[k : k + count] * self._q[k]
            same_doc = doc_of_token[:count] == doc_of_token[n - 1 :]
            doc_ids, shingles = doc_of_token[:count][same_doc], shingles[same_doc]
        else:
            doc_ids, shingles = np.empty(0, dtype=np.int64), np.empty(0, dtype=_U64)
        per_doc = np.bincount(doc_of_token, minlength=len(texts))
        short = np.flatnonzero((per_doc > 0) & (per_doc < n))
        if short.size:
            extra = np.empty(short.size, dtype=_U64)
            first = np.searchsorted(doc_of_token, short)
            for i, (doc, at) in enumerate(zip(short.tolist(), first.tolist())):
                k = int(per_doc[doc])
                extra[i] = np.sum(tokens[at : at + k] * self._q[:k], dtype=_U64)
            doc_ids = np.concatenate([doc_ids, short])
            shingles = np.concatenate([shingles, extra])
            order = np.argsort(doc_ids, kind="stable")
            doc_ids, shingles = doc_ids[order], shingles[order]
        return doc_ids, _mix(shingles)

    def _minhash(self, doc_ids: np.ndarray, shingles: np.ndarray, docs: int) -> np.ndarray:
        out = np.full((self.num_perm, docs), _EMPTY, dtype=np.uint32)
        if not shingles.size:
            return out.T
        first = np.flatnonzero(np.diff(doc_ids, prepend=-1))
        present = doc_ids[first]
        buffer = np.empty(shingles.size, dtype=_U64)
        shift = _U64(32)
        for k in range(self.num_perm):
            np.multiply(shingles, self._a[k], out=buffer)
            buffer += self._b[k]
            buffer >>= shift
            out[k, present] = np.minimum.reduceat(buffer, first)
        return np.ascontiguousarray(out.T)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal positions of two signatures: an unbiased estimate of their Jaccard."""
    return float(np.mean(a == b))


# ---------------------------------------------------------------------------------------------
# LSH


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
        self._row_mult = _constants(seed ^ 0x5EED, rows) | _U64(1)
        self._hashes = np.empty((1024, bands), dtype=_U64)
        self._size = 0
        self.keys: list[str] = []

    def __len__(self) -> int:
        return self._size

    def band_hashes(self, signatures: np.ndarray) -> np.ndarray:
        """``(n, bands)`` uint64 bucket ids of ``(n, >= bands*rows)`` signatures."""
        n = signatures.shape[0]
        width = self.bands * self.rows
        if signatures.shape[1] < width:
            raise ValueError(f"signatures have {signatures.shape[1]} values, LSH needs {width}")
        blocks = signatures[:, :width].reshape(n, self.bands, self.rows).astype(_U64)
        return _mix(np.asarray(np.sum(blocks * self._row_mult, axis=2, dtype=_U64)))

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

    def candidate_pairs(self, order: np.ndarray | None = None) -> np.ndarray:
        """Distinct ``(i, j)`` document numbers sharing a bucket in some band, as a (k, 2) array.

        In each bucket, members sorted by ``order`` (a permutation: position → document, best
        first) are paired with the first member and with their predecessor: 2 pairs per member
        instead of all pairs, so a bucket of a thousand copies stays cheap.
        """
        n = self._size
        if order is None:
            order = np.arange(n)
        found = []
        for band in range(self.bands):
            column = self._hashes[order, band]
            sort = np.argsort(column, kind="stable")  # stable: ties stay in canonical order
            same = column[sort[1:]] == column[sort[:-1]]
            if not same.any():
                continue
            members = np.flatnonzero(same) + 1
            is_start = np.ones(n, dtype=bool)
            is_start[members] = False
            group_start = np.maximum.accumulate(np.where(is_start, np.arange(n), 0))
            found.append(np.stack([sort[group_start[members]], sort[members]], axis=1))
            found.append(np.stack([sort[members - 1], sort[members]], axis=1))
        if not found:
            return np.empty((0, 2), dtype=np.int64)
        pairs = order[np.concatenate(found)]
        pairs.sort(axis=1)
        pairs = np.unique(pairs, axis=0)
        return pairs[pairs[:, 0] != pairs[:, 1]]

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
    pairs = np.asarray(order, dtype=np.int64)[np.asarray(position_pairs, dtype=np.int64)]
    pairs.sort(axis=1)
    pairs = np.unique(pairs, axis=0)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def _components(size: int, pairs: np.ndarray) -> list[list[int]]:
    """Connected components (of two or more) of documents ``0..size-1`` joined by ``pairs``."""
    parent = list(range(size))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in {x for pair in pairs.tolist() for x in pair}:
        groups.setdefault(root(i), []).append(i)
    return [sorted(g) for g in groups.values()]


# ---------------------------------------------------------------------------------------------
# Near-duplicate removal


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
        self._ranks: list[tuple[bool, str, int, str]] = []
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
                       ranks: list[tuple[bool, str, int, str]]) -> None:
        """Add a batch signed elsewhere (rows of ``signatures``; ``ranks`` from :func:`keep_rank`)."""
        if signatures.shape != (len(keys), self.hasher.num_perm):
            raise ValueError(f"signatures have shape {signatures.shape}, "
                             f"expected ({len(keys)}, {self.hasher.num_perm})")
        if self._seen.intersection(keys) or len(set(keys)) != len(keys):
            raise ValueError("duplicate document keys: keys must be unique")
        self._flush()
        self._seen.update(keys)
        self._store(keys, ranks, signatures)

    def add_signature(
        self, *, key: str, signature: np.ndarray, date: str | None = None, word_count: int = 0
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
            [key], [keep_rank(date=date, word_count=word_count, key=key)], signature.reshape(1, -1)
        )

    def _flush(self) -> None:
        if not self._pending:
            return
        docs, self._pending = self._pending, []
        signatures = self.hasher.signatures([doc.text for doc in docs])
        self._store([doc.key for doc in docs], [_doc_rank(doc) for doc in docs], signatures)

    def _store(
        self, keys: list[str], ranks: list[tuple[bool, str, int, str]], signatures: np.ndarray
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

    def finalize(self) -> DedupResult:
        order = self.canonical_order()
        return self.resolve(self.index.candidate_pairs(order), order=order)

    def canonical_order(self) -> np.ndarray:
        """Document numbers best first by the keep rule (position → document), after a flush."""
        self._flush()
        ranks = self._ranks
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
        groups = _components(n, verified)
        duplicate_of: dict[str, Duplicate] = {}
        if groups:
            members = np.array([m for g in groups for m in g], dtype=np.int64)
            winners = [min(g, key=position.__getitem__) for g in groups]
            best = np.repeat(winners, [len(g) for g in groups])
            dropped = members != best
            pairs = np.stack([members[dropped], best[dropped]], axis=1)
            for (member, kept), sim in zip(pairs.tolist(), self._similarities(pairs).tolist()):
                duplicate_of[keys[member]] = Duplicate(keys[kept], round(sim, 4))
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
                "clusters": len(groups),
            },
        )


class DedupConfig(BaseModel):
    """The ``dedup:`` section of a build spec (exact and near stages, near-dup parameters)."""

    model_config = ConfigDict(extra="forbid")

    exact: bool = True
    near: bool = True
    threshold: float = Field(default=0.8, gt=0, le=1)
    num_perm: int = Field(default=256, ge=16, le=1024)
    ngram: int = Field(default=5, ge=1, le=20)
    seed: int = Field(default=1, ge=0)

    def near_dedup(self) -> NearDedup:
        """A fresh :class:`NearDedup` with these parameters."""
        return NearDedup(
            threshold=self.threshold, num_perm=self.num_perm, ngram=self.ngram, seed=self.seed
        )
