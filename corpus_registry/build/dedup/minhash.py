"""MinHash signatures of folded text, and the fixed hash constants LSH reuses.

Folding and hashing live together because the signature is only reproducible if both are: the
same text, parameters and seed give the same signature on every run, platform and worker.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

__all__ = ["MinHasher", "fold_tokens"]

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
_EMPTY = np.uint32(0xFFFFFFFF)


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
