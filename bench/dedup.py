"""Benchmark: quality filters and dedup on a synthetic corpus built from the bundled real texts.

Corpus: every bundled text (Gutenberg books, one edition per work; Genesis and UDHR
translations; Code civil articles) is cut into sentences; each document is ~200 words of
sentences drawn at random from one text, so documents read like that text but no two overlap
by more than a sentence or two. Then, on distinct base documents, we inject:

* near duplicates: words substituted/deleted/inserted at a rate aimed at a word 5-gram Jaccard
  drawn in [0.8, 1.0], half of them also cosmetically changed (accents stripped, case, French
  spacing before ``?!;:``, ``œ``→``oe``) — changes the folding must see through;
* hard negatives: the same edits aimed at a Jaccard in [0.5, 0.75];
* exact copies (1 %), for the exact stage.

The true Jaccard of every injected pair is measured exactly on the shingle sets (same folding as
the detector). Recall: share of pairs with true Jaccard ≥ 0.8 that end in the same cluster.
Precision: share of reported (dropped, kept) pairs whose true Jaccard is ≥ 0.7 — the detector
targets 0.8 and a pair at 0.7-0.8 is a near duplicate, only a less certain one (its estimate has
σ ≈ 0.03 at 256 permutations).

Rates are documents per CPU second of this (single-threaded) process, so that other work on a
shared machine does not skew them. The peer is rensa's R-MinHash (Rust), on the same documents in
the same run (``pip install -e '.[bench]'``).

    python bench/dedup.py [--docs 50000] [--seed 0] [--num-perm 256]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import resource
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus_registry.build.dedup import ExactDedup, MinHasher, NearDedup
from corpus_registry.build.filters import BuildDoc, build_filters
from corpus_registry.registry.documents import count_words, normalize_text, text_sha256

DATA = ROOT / "data"
_START = re.compile(r"^\*\*\* ?START OF.*$|^\*END\*THE SMALL PRINT.*$", re.MULTILINE)
_END = re.compile(
    r"^\*\*\* ?END OF.*$|^End of (?:the )?Project Gutenberg.*$", re.MULTILINE | re.IGNORECASE
)
_SENTENCE = re.compile(r"(?<=[.!?;:»。！？])\s*(?=\S)")


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if path.name == "swedish.txt":
        return raw.decode("cp865")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes anything")


def _strip_pg(text: str) -> str:
    start = _START.search(text)
    if start:
        text = text[start.end() :]
    end = _END.search(text)
    return text[: end.start()] if end else text


def source_texts() -> dict[str, str]:
    """One text per work; the second editions of NEAR_DUPLICATES.md are left out."""
    texts: dict[str, str] = {}
    for path in sorted((DATA / "gutenberg-fr").glob("*/*.txt")) + sorted(
        (DATA / "gutenberg-en-de-es-it").glob("*/*/*.txt")
    ):
        if "3456" not in path.name:
            texts[path.parent.name] = normalize_text(_strip_pg(_decode(path)))
    for path in sorted((DATA / "nltk-genesis" / "genesis").glob("*.txt")):
        texts[f"genesis-{path.stem}"] = normalize_text(_decode(path))
    udhr = [normalize_text(_decode(p)) for p in sorted((DATA / "nltk-udhr" / "udhr").glob("*.txt"))]
    texts["udhr"] = "\n\n".join(udhr)
    articles = sorted((DATA / "legifrance-code-civil" / "code-civil").rglob("*.md"))
    texts["code-civil"] = "\n\n".join(normalize_text(p.read_text("utf-8")) for p in articles)
    return texts


def make_corpus(texts: dict[str, str], *, docs: int, rng: random.Random) -> list[tuple[str, str]]:
    """``docs`` (source, text) pairs of ~200 words made of random sentences of one source."""
    pools = {}
    for name, text in texts.items():
        sentences = []
        for sentence in _SENTENCE.split(text):
            words = sentence.split()
            for i in range(0, len(words), 40):  # cut run-ons (verse, unpunctuated lists)
                sentences.append(" ".join(words[i : i + 40]))
        pools[name] = (sentences, [len(s.split()) for s in sentences])
    names = sorted(pools)
    weights = [sum(pools[n][1]) for n in names]
    corpus = []
    for _ in range(docs):
        name = rng.choices(names, weights)[0]
        sentences, lengths = pools[name]
        parts, words, used = [], 0, set()
        while words < 200 and len(used) < len(sentences):
            i = rng.randrange(len(sentences))
            if i not in used:  # a sentence at most once per document
                used.add(i)
                parts.append(sentences[i])
                words += lengths[i]
        corpus.append((name, " ".join(parts)))
    return corpus


def _cosmetic(text: str, rng: random.Random) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    elif choice == 1:
        text = text.upper() if rng.random() < 0.3 else text.lower()
    elif choice == 2:
        text = re.sub(r"\s*([?!;:])", r" \1", text).replace("--", " -- ")
    else:
        text = text.replace("oe", "œ").replace("ae", "æ")
    return text


def _edit(text: str, rate: float, vocabulary: list[str], rng: random.Random) -> str:
    words = text.split()
    out = []
    for word in words:
        r = rng.random()
        if r < rate / 3:
            continue  # deletion
        if r < 2 * rate / 3:
            out.append(rng.choice(vocabulary))  # substitution
            continue
        out.append(word)
        if r < rate:
            out.append(rng.choice(vocabulary))  # insertion
    return " ".join(out)


def _edit_rate(jaccard: float) -> float:
    """Word edit rate aimed at a 5-gram Jaccard of ``jaccard``.

    The shared share of shingles, f = 2J/(1+J), falls about as exp(-4.5 * rate) (each edit
    breaks up to 5 shingles, fewer when edits are close); measured on this corpus.
    """
    shared = 2 * jaccard / (1 + jaccard)
    return -math.log(shared) / 4.5


def rensa_signing_rate(texts: list[str], *, num_perm: int, ngram: int) -> float:
    """Documents per CPU second for rensa's R-MinHash (Rust) on the same texts, shingles made as its
    README does (word n-grams of whitespace tokens; no folding, so it does less work than ours)."""
    from rensa import RMinHash

    t = time.process_time()
    for text in texts:
        tokens = text.split()
        minhash = RMinHash(num_perm=num_perm, seed=42)
        minhash.update([" ".join(tokens[i : i + ngram]) for i in range(max(1, len(tokens) - ngram + 1))])
        minhash.digest()
    return len(texts) / (time.process_time() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=50_000, help="base documents (default 50000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-perm", type=int, default=256, help="MinHash permutations")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    texts = source_texts()
    corpus = make_corpus(texts, docs=args.docs, rng=rng)
    vocabulary = sorted({w for _, t in corpus[:2000] for w in t.split()})
    hasher = MinHasher(num_perm=args.num_perm)
    truth: list[tuple[str, str, float]] = []  # injected (base key, variant key, true Jaccard)
    docs = {f"{src}/{i:06d}": text for i, (src, text) in enumerate(corpus)}
    keys = list(docs)
    bases = rng.sample(keys, min(len(keys), args.docs // 10))
    n_pos, n_neg = len(bases) * 2 // 5, len(bases) * 2 // 5
    for j, base in enumerate(bases):
        if j < n_pos + n_neg:
            target = rng.uniform(0.8, 1.0) if j < n_pos else rng.uniform(0.5, 0.75)
            variant = _edit(docs[base], _edit_rate(target), vocabulary, rng)
            if j < n_pos and rng.random() < 0.5:
                variant = _cosmetic(variant, rng)
            a, b = hasher.shingle_hashes(docs[base]), hasher.shingle_hashes(variant)
            jac = len(np.intersect1d(a, b)) / len(np.union1d(a, b))
            key = f"{base}~near{j}"
        else:
            variant, jac, key = docs[base], 1.0, f"{base}~copy{j}"
        docs[key] = variant
        truth.append((base, key, jac))
    build_docs = []
    for key, text in docs.items():
        norm = normalize_text(text)
        build_docs.append(
            BuildDoc(
                key=key,
                text=norm,
                sha256=text_sha256(norm),
                word_count=count_words(norm),
                language="xx",
            )
        )
    rng.shuffle(build_docs)
    total_words = sum(d.word_count for d in build_docs)
    print(
        f"corpus: {len(build_docs)} docs, {total_words / len(build_docs):.0f} words/doc, "
        f"{len(texts)} sources, built in {time.perf_counter() - t0:.1f}s"
    )
    print(
        f"injected: {n_pos} near-dups aimed at J in [0.8,1], {n_neg} hard negatives aimed at "
        f"[0.5,0.75], {len(bases) - n_pos - n_neg} exact copies"
    )

    filters = build_filters()
    t = time.process_time()
    passed = 0
    for doc in build_docs:
        passed += all(f(doc) for f in filters)
    filter_rate = len(build_docs) / (time.process_time() - t)
    print(f"filters: {filter_rate:,.0f} docs/s, {passed}/{len(build_docs)} pass")
    for f in filters:
        stats = f.stats()
        print(
            f"  {stats['name']:<13} kept {stats['kept']:>6} dropped {stats['dropped']:>5} "
            f"{stats['reasons']}"
        )

    texts_only = [d.text for d in build_docs]
    t = time.process_time()
    for s in range(0, len(texts_only), 1024):
        hasher.signatures(texts_only[s : s + 1024])
    sign_rate = len(texts_only) / (time.process_time() - t)
    print(f"signing: {sign_rate:,.0f} docs/s ({hasher.num_perm} permutations, one core)")
    rensa_rate = rensa_signing_rate(texts_only, num_perm=hasher.num_perm, ngram=hasher.ngram)
    print(f"rensa R-MinHash signing, same documents: {rensa_rate:,.0f} docs/s "
          f"(word {hasher.ngram}-grams of whitespace tokens; project/rensa = {sign_rate / rensa_rate:.2f}x)")

    t = time.process_time()
    exact = ExactDedup()
    exact.add_many(build_docs)
    exact_result = exact.finalize()
    survivors = set(exact_result.kept_keys)
    near = NearDedup(num_perm=args.num_perm)
    near.add_many(d for d in build_docs if d.key in survivors)
    result = near.finalize()
    dedup_rate = len(build_docs) / (time.process_time() - t)
    print(
        f"dedup (exact + near, signing included): {dedup_rate:,.0f} docs/s; "
        f"exact dropped {len(exact_result.duplicate_of)}, near {result.stats}"
    )
    print(
        f"near: threshold {near.threshold}, verify at {near.verify_threshold:.3f}, "
        f"{near.index.bands} bands x {near.index.rows} rows"
    )

    cluster = {k: k for k in docs}
    for dropped, dup in exact_result.duplicate_of.items():
        cluster[dropped] = dup.kept_key
    for dropped, dup in result.duplicate_of.items():
        cluster[dropped] = dup.kept_key
        for key in [k for k, v in exact_result.duplicate_of.items() if v.kept_key == dropped]:
            cluster[key] = dup.kept_key
    positives = [(a, b, j) for a, b, j in truth if j >= 0.8]
    found = sum(cluster[a] == cluster[b] for a, b, _ in positives)
    recall = found / max(1, len(positives))
    missed = sorted(j for a, b, j in positives if cluster[a] != cluster[b])
    negatives = [(a, b, j) for a, b, j in truth if j < 0.7]
    merged_negatives = sum(cluster[a] == cluster[b] for a, b, _ in negatives)

    correct = 0
    wrong: list[float] = []
    for dropped, dup in result.duplicate_of.items():
        a, b = hasher.shingle_hashes(docs[dropped]), hasher.shingle_hashes(docs[dup.kept_key])
        jac = len(np.intersect1d(a, b)) / len(np.union1d(a, b))
        if jac >= 0.7:
            correct += 1
        else:
            wrong.append(round(jac, 3))
    precision = correct / max(1, len(result.duplicate_of))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"recall (true J >= 0.8): {found}/{len(positives)} = {recall:.4f}; missed J: {missed[:10]}"
    )
    print(
        f"precision (reported pair true J >= 0.7): {correct}/{len(result.duplicate_of)} = "
        f"{precision:.4f}; wrong pairs J: {sorted(wrong)[:10]}"
    )
    print(f"hard negatives (J < 0.7) merged: {merged_negatives}/{len(negatives)}")
    print(f"peak RSS: {peak_mb:.0f} MB (corpus texts included)")
    print(
        f"RESULT sign_docs_per_s={sign_rate:.0f} rensa_sign_docs_per_s={rensa_rate:.0f} "
        f"ratio_vs_rensa={sign_rate / rensa_rate:.2f} dedup_docs_per_s={dedup_rate:.0f} "
        f"filter_docs_per_s={filter_rate:.0f} recall={recall:.4f} precision={precision:.4f} "
        f"peak_rss_mb={peak_mb:.0f}"
    )


if __name__ == "__main__":
    main()
