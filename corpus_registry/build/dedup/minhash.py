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
_CACHED_POWERS = 1 << 22  # code points: 2 × 32 MB of powers kept between batches


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
_EXPAND = -2
_char_codes: np.ndarray | None = None
_text_codes: tuple[np.ndarray, dict[int, np.ndarray]] | None = None


def _char_table() -> np.ndarray:
    """Per BMP code point of decomposed text: folded code point (word character), 0 (separator)
    or -1 (dropped).

    Letters, digits and spacing marks are word characters, case-folded; combining marks and
    format characters (soft hyphen, zero-width joiners) are dropped; anything else separates.
    Code points beyond the BMP are word characters, kept as they are.
    """
    global _char_codes
    if _char_codes is None:
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
        _char_codes = table
    return _char_codes


def _fold_table() -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Per BMP code point, the fold of its NFKD decomposition with the expansions applied: one
    code as in :func:`_char_table`, or -2 when it folds to several codes (then in the dict).

    Folding text through it equals decomposing the text first, without a pass of ``unicodedata``
    over every text (a third of the signing time on French text before)."""
    global _text_codes
    if _text_codes is None:
        chars = _char_table()
        table = chars.copy()
        several: dict[int, np.ndarray] = {}
        expanded = {source for source, _ in _EXPANSIONS}
        for cp in range(0x10000):
            char = chr(cp)
            decomposed = unicodedata.normalize("NFKD", char)
            if decomposed == char and char not in expanded:
                continue
            for source, target in _EXPANSIONS:
                decomposed = decomposed.replace(source, target)
            codes = [int(chars[ord(c)]) if ord(c) <= 0xFFFF else ord(c) for c in decomposed]
            codes = [c for c in codes if c != _DROP]
            if len(codes) > 1:
                table[cp] = _EXPAND
                several[cp] = np.array(codes, dtype=np.int32)
            else:
                table[cp] = codes[0] if codes else _DROP
        _text_codes = table, several
    return _text_codes


def _prepare(text: str) -> str:
    """Decomposed text with the expansions applied (the slow path, for text beyond the BMP)."""
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
    joined = "\x00".join(t.replace("\x00", " ") if "\x00" in t else t for t in texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if cps.size and int(cps.max()) > 0xFFFF:  # rare: decompose on the string, then fold per character
        joined = "\x00".join(map(_prepare, texts))
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        codes = np.where(cps > 0xFFFF, cps.astype(np.int32), _char_table()[cps & 0xFFFF])
        joints = cps == 0
    else:
        table, several = _fold_table()
        codes = table[cps]
        joints = cps == 0
        expand = np.flatnonzero(codes == _EXPAND)
        if expand.size:
            codes, joints = _expand(codes, joints, expand, [several[cp] for cp in cps[expand].tolist()])
    keep = codes != _DROP
    if not keep.all():
        codes, joints = codes[keep], joints[keep]
    starts = np.empty(len(texts), dtype=np.int64)
    starts[0] = 0
    starts[1:] = np.flatnonzero(joints) + 1
    return codes, starts


def _expand(codes: np.ndarray, joints: np.ndarray, at: np.ndarray,
            pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` with the code at each position of ``at`` replaced by its piece (several codes)."""
    if at.size * 64 < codes.size:  # a few ligatures: one copy, segment by segment
        bounds = [0, *(at + 1).tolist()]
        code_parts: list[np.ndarray] = []
        joint_parts: list[np.ndarray] = []
        for (start, stop), piece in zip(zip(bounds, at.tolist()), pieces):
            code_parts += [codes[start:stop], piece]
            joint_parts += [joints[start:stop], np.zeros(piece.size, dtype=bool)]
        code_parts.append(codes[bounds[-1]:])
        joint_parts.append(joints[bounds[-1]:])
        return np.concatenate(code_parts), np.concatenate(joint_parts)
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    counts = np.ones(codes.size, dtype=np.int64)
    counts[at] = lengths
    out = np.repeat(codes, counts)
    starts = np.cumsum(counts) - counts
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[np.repeat(starts[at], lengths) + within] = np.concatenate(pieces)
    return out, np.repeat(joints, counts) & (out == 0)


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
        self._a = (constants[:num_perm] >> _U64(32)).astype(np.uint32) | np.uint32(1)
        self._b = (constants[num_perm : 2 * num_perm] >> _U64(32)).astype(np.uint32)
        self._q = constants[2 * num_perm : 2 * num_perm + ngram] | _U64(1)
        self._char_base = int(constants[-1] | _U64(1))
        self._powers = self._inverses = np.ones(1, dtype=_U64)

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
        """(token hashes, token start positions) of a folded code array.

        A token's hash is ``mix(Σ cᵢ·Bⁱ⁻ˢ ^ length)`` over its code points ``cᵢ`` from its start
        ``s``. It is read off one running sum of ``cᵢ·Bⁱ`` over the whole array (separators are 0
        and add nothing) as ``(S[end] − S[s−1])·B⁻ˢ``: B is odd, so it has an inverse mod 2⁶⁴."""
        edges = np.diff((codes > 0).view(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        if not starts.size:
            return np.empty(0, dtype=_U64), starts
        ends = np.flatnonzero(edges == -1) - 1  # last character of each token
        powers, inverses = self._powers_of_base(codes.size)
        running = np.cumsum(codes.astype(_U64) * powers, dtype=_U64)
        hashes = running[ends]
        hashes[1:] -= running[starts[1:] - 1]  # the first token starts after no code or after separators
        if starts[0] > 0:
            hashes[0] -= running[starts[0] - 1]
        hashes *= inverses[starts]
        return _mix(hashes ^ (ends - starts + 1).astype(_U64)), starts

    def _powers_of_base(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(Bⁱ, B⁻ⁱ) mod 2⁶⁴ for i < n; kept for the next batch up to a few million."""
        if self._powers.size < n:
            base = np.full(n, self._char_base, dtype=_U64)
            base[0] = 1
            inverse = np.full(n, pow(self._char_base, -1, 1 << 64), dtype=_U64)
            inverse[0] = 1
            powers, inverses = np.cumprod(base, dtype=_U64), np.cumprod(inverse, dtype=_U64)
            if n > _CACHED_POWERS:
                return powers, inverses
            self._powers, self._inverses = powers, inverses
        return self._powers[:n], self._inverses[:n]

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
        """Per permutation k, the least ``a_k·x + b_k mod 2³²`` over each document's shingles ``x``
        (the high halves of their mixed 64-bit hashes): an odd ``a_k`` makes it a permutation of the
        32-bit values, and 32-bit lanes halve the memory traffic of the 64-bit arithmetic."""
        out = np.full((self.num_perm, docs), _EMPTY, dtype=np.uint32)
        if not shingles.size:
            return out.T
        first = np.flatnonzero(np.diff(doc_ids, prepend=-1))
        present = doc_ids[first]
        values = (shingles >> _U64(32)).astype(np.uint32)
        buffer = np.empty(values.size, dtype=np.uint32)
        for k in range(self.num_perm):
            np.multiply(values, self._a[k], out=buffer)
            buffer += self._b[k]
            out[k, present] = np.minimum.reduceat(buffer, first)
        return np.ascontiguousarray(out.T)
