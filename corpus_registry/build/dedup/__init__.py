"""Exact and near-duplicate removal, with one documented rule for which copy is kept.

Keep rule (exact and near duplicates alike): the kept document of a group is the one with the
**most permissive licence tier** (public domain, then attribution, then share-alike), then the
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

    module   owns
    keep     the keep rule (keep_rank: licence tier first), Duplicate, DedupResult
    exact    ExactDedup
    minhash  text folding (fold_tokens), the hash constants, MinHasher
    lsh      choose_bands, LSHIndex, bucket_pairs, document_pairs, union-find
    near     NearDedup, estimated_jaccard
    config   DedupConfig
"""

from __future__ import annotations

# ``X as X``: a private helper importable from the old single module, though not in ``__all__``.
from corpus_registry.build.dedup.config import DedupConfig
from corpus_registry.build.dedup.exact import ExactDedup
from corpus_registry.build.dedup.keep import DedupResult, Duplicate, keep_rank
from corpus_registry.build.dedup.lsh import LSHIndex, bucket_pairs, choose_bands, document_pairs
from corpus_registry.build.dedup.lsh import _components as _components
from corpus_registry.build.dedup.minhash import MinHasher, fold_tokens
from corpus_registry.build.dedup.near import NearDedup, estimated_jaccard

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
