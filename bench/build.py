"""This project vs datatrove on one job: read JSONL, language filter, MinHash near-dedup, write Parquet.

The input (written once, JSONL ``{id, text}``): ``--docs`` documents of ~200 words (~1,200
characters) in eight languages, each made of real sentences sampled from one bundled text
(``bench/corpus.py`` passages, pooled by text), plus injected near-duplicates whose true Jaccard
is known exactly: copies of distinct base documents with a controlled number of words
substituted, deleted or inserted (scattered, or one contiguous span), kept only when their word
5-gram Jaccard to the original falls in the band asked for. 5 % of the documents are true pairs
(J in [0.80, 1.0)), 2 % hard negatives (J in [0.50, 0.75]). Sentences are sampled without
contiguity from pools of at least 100 sentences, so base documents are not near-duplicates of
each other (two of them sharing 8 of 10 sentences has odds ~1e-8 per pair).

Each side runs in its own subprocess pinned to one core (``taskset -c 0``, ``--cpu``). Its time
is the job alone (imports and registry creation excluded, model loading included; the libraries
either side imports lazily, on first use, are imported before the clock starts); CPU time and
peak RSS (``getrusage(RUSAGE_SELF)``) are the whole process's. CPU / wall below 1 means the core
was shared with other work; ``ratio_cpu_vs_datatrove`` is the ratio of CPU times, less sensitive
to that.

- datatrove 0.10.1 (``bench/datatrove_pipeline.py``): JsonlReader → LanguageFilter (fastText
  lid.176, bundled ``.ftz``) → JsonlWriter, then MinhashDedupSignature → Buckets → Cluster →
  Filter → ParquetWriter; 5-grams, 14 buckets x 8 hashes (its defaults). Run twice: stock
  (``datatrove``: word tokenizer = spaCy blank "en", datatrove's assignment for English) and
  ``datatrove-ws`` (``str.split`` tokenizer, datatrove's fastest possible signing);
  ``--no-whitespace-variant`` skips the second.
- this project: ``ingest`` of the JSONL into a fresh SQLite registry (normalise, hash, fastText
  lid.176 language id, text store) + ``build_release`` with the same languages, every quality
  filter off, exact + near dedup (threshold 0.8, 5-grams), Parquet shards. Both parts are timed.

Both keep documents whose language is one of ``LANGUAGES`` with score > 0.65 (datatrove's default
threshold; the project's ``min_language_score``). Finnish and Swedish texts are in the input so
that the filter has something to drop.

Quality, from the project's recorded fate of every document (``release_documents``):
- recall: share of the injected true pairs (J ≥ 0.8) whose two documents both reached dedup
  (passed the language selection) that ended in one cluster (one dropped as a duplicate of the
  other, or both tied to one keeper);
- precision: share of reported near-duplicate pairs (dropped → its keeper) whose exact word
  5-gram Jaccard is ≥ 0.7 (tolerance 0.1 below the threshold: a MinHash estimate near 0.8 of a
  pair at 0.78 is the method working, not a false positive; hard negatives are ≤ 0.75).
Jaccard is computed exactly on folded tokens (NFKD without combining marks, casefolded, runs of
letters/digits), by code independent of the project's. datatrove is scored the same way from its
clusters (``.clusters`` of stage 3, read after the timed run).

    python bench/build.py                    # 50,000 documents, all three runs (~8 min)
    python bench/build.py --docs 5000 --skip-datatrove
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

LANGUAGES = ["de", "en", "es", "fr", "it", "pt"]
LANGUAGE_THRESHOLD = 0.65
CHARS = 1200
TRUE_BAND = (0.80, 0.995)
NEGATIVE_BAND = (0.50, 0.75)
TRUE_SHARE = 0.05
NEGATIVE_SHARE = 0.02
PRECISION_TOLERANCE = 0.7
MIN_POOL_SENTENCES = 100
MAX_PIECE_CHARS = 300
POOL_CAP_CHARS = 400_000  # sampling weight cap, so the seven French novels do not drown the rest
NGRAM = 5
_SENT = re.compile(r"(?<=[.!?;:])\s+")
_WORD = re.compile(r"[^\W_]+")


# -- input ------------------------------------------------------------------------------------

def sentence_pools() -> list[tuple[str, list[str]]]:
    """(text name, distinct sentences ≤ MAX_PIECE_CHARS) per bundled text with enough of them.

    One pass of ``passages()`` covers every bundled text; its sentences are pooled per text
    (the Code civil's articles are one pool). Over-long sentences are cut on words so that no
    piece can dominate a document.
    """
    from corpus import passages

    pools: dict[str, dict[str, None]] = {}
    for ident, text in passages(6000, chars=CHARS):
        name = ident.rsplit("#", 1)[0]
        if name.startswith("legifrance-code-civil/"):
            name = "legifrance-code-civil"
        pool = pools.setdefault(name, {})
        for sentence in _SENT.split(text):
            for piece in _cut(sentence):
                pool[piece] = None
    return [(name, list(p)) for name, p in sorted(pools.items()) if len(p) >= MIN_POOL_SENTENCES]


def _cut(sentence: str) -> list[str]:
    if len(sentence) <= MAX_PIECE_CHARS:
        return [sentence] if sentence.strip() else []
    out, buf, size = [], [], 0
    for word in sentence.split():
        buf.append(word)
        size += len(word) + 1
        if size >= MAX_PIECE_CHARS // 2:
            out.append(" ".join(buf))
            buf, size = [], 0
    if buf:
        out.append(" ".join(buf))
    return out


def tokens(text: str) -> list[str]:
    """Words of ``text`` folded for comparison: NFKD without combining marks, casefolded, split
    on every run of non-letters/digits (``_`` included). Written independently of the project's
    dedup code, so that the truth does not share its bugs."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _WORD.findall(folded.casefold())


def shingles(text: str) -> set[str]:
    """Word 5-gram shingles of :func:`tokens` (the whole text if shorter)."""
    tokens_ = tokens(text)
    if len(tokens_) < NGRAM:
        return {" ".join(tokens_)}
    return {" ".join(tokens_[i:i + NGRAM]) for i in range(len(tokens_) - NGRAM + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(slots=True)
class Pair:
    a: str
    b: str
    jaccard: float
    kind: str  # "true" | "negative"
    mode: str


def _mutate(tokens: list[str], k: int, mode: str, vocab: list[str], rng: random.Random) -> list[str]:
    """``k`` word edits: scattered substitutions/deletions/insertions, or one contiguous span."""
    out = list(tokens)
    if mode == "span":
        start = rng.randrange(0, max(1, len(out) - k))
        out[start:start + k] = [rng.choice(vocab) for _ in range(k)]
        return out
    for _ in range(k):
        op = rng.random()
        i = rng.randrange(len(out))
        if op < 0.6:
            out[i] = rng.choice(vocab)
        elif op < 0.8 and len(out) > NGRAM + 1:
            del out[i]
        else:
            out.insert(i, rng.choice(vocab))
    return out


def _near_copy(text: str, band: tuple[float, float], vocab: list[str],
               rng: random.Random) -> tuple[str, float, str] | None:
    """A copy of ``text`` whose exact Jaccard to it lies in ``band`` (bisection on the edit count)."""
    tokens = text.split(" ")
    base = shingles(text)
    target = rng.uniform(*band)
    mode = rng.choice(("scatter", "span"))
    seed = rng.getrandbits(32)

    def attempt(k: int) -> tuple[str, float]:
        t = " ".join(_mutate(tokens, k, mode, vocab, random.Random(seed * 1000 + k)))
        return t, jaccard(base, shingles(t))

    lo, hi = 1, max(2, len(tokens) // 2)
    while lo < hi:  # smallest k whose Jaccard falls below the target
        mid = (lo + hi) // 2
        if attempt(mid)[1] >= target:
            lo = mid + 1
        else:
            hi = mid
    for k in (lo - 1, lo, lo + 1):
        if k >= 1:
            t, j = attempt(k)
            if band[0] <= j <= band[1] and t != text:
                return t, j, mode
    return None


def make_input(path: Path, n: int, *, seed: int = 13) -> list[Pair]:
    """Write ``n`` documents as JSONL; return the injected pairs with their exact Jaccard."""
    rng = random.Random(seed)
    pools = sentence_pools()
    weights = [min(sum(map(len, s)), POOL_CAP_CHARS) for _, s in pools]
    vocabs = [sorted({w for s in sents for w in s.split()}) for _, sents in pools]
    n_true, n_neg = int(n * TRUE_SHARE), int(n * NEGATIVE_SHARE)
    n_base = n - n_true - n_neg
    docs: list[tuple[str, str, int]] = []  # id, text, pool
    for i in range(n_base):
        p = rng.choices(range(len(pools)), weights=weights)[0]
        sents = pools[p][1]
        picked: set[int] = set()
        size = 0
        while size < CHARS and len(picked) < len(sents):
            j = rng.randrange(len(sents))
            if j not in picked:
                picked.add(j)
                size += len(sents[j]) + 1
        order = list(picked)
        rng.shuffle(order)
        docs.append((f"b{i:06d}", " ".join(sents[j] for j in order), p))
    pairs: list[Pair] = []
    originals = rng.sample(range(n_base), n_true + n_neg)
    made = {"true": 0, "negative": 0}
    want = {"true": n_true, "negative": n_neg}
    for idx in originals:
        kind = "true" if made["true"] < n_true else "negative"
        if made[kind] >= want[kind]:
            break
        ident, text, p = docs[idx]
        band = TRUE_BAND if kind == "true" else NEGATIVE_BAND
        got = None
        for _ in range(5):
            got = _near_copy(text, band, vocabs[p], rng)
            if got:
                break
        if got is None:
            continue
        copy, similarity, mode = got
        new_id = f"{'t' if kind == 'true' else 'n'}{made[kind]:06d}"
        made[kind] += 1
        pairs.append(Pair(a=ident, b=new_id, jaccard=similarity, kind=kind, mode=mode))
        docs.append((new_id, copy, p))
    rng.shuffle(docs)  # copies are not next to their originals
    with path.open("w", encoding="utf-8") as f:
        for ident, text, _ in docs:
            f.write(json.dumps({"id": ident, "text": text}, ensure_ascii=False) + "\n")
    return pairs


def read_texts(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as f:
        return {r["id"]: r["text"] for r in map(json.loads, f)}


# -- the two sides (each in its own pinned subprocess) -------------------------------------------

def _usage() -> dict[str, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mb": ru.ru_maxrss / 1024, "cpu_s": ru.ru_utime + ru.ru_stime}


def _import_lazy_libraries(*modules: str) -> None:
    """Import, before the clock starts, the libraries a side imports on first use (the project's
    funnel chart and language id; datatrove's fastText and spaCy): imports are not timed on
    either side, whether a module's top or its first call does them. Models are still loaded
    in the timed run."""
    import importlib

    for name in modules:
        importlib.import_module(name)


def side_project(input_dir: Path, work: Path) -> dict[str, Any]:
    """Ingest + build; returns timings and, per document reaching dedup, its fate."""
    t_import = time.perf_counter()
    from sqlalchemy import select

    from corpus_registry.build.builder import build_release
    from corpus_registry.build.spec import parse_spec
    from corpus_registry.registry.db.models import Document, ReleaseDocument
    from corpus_registry.registry.ingest import ingest
    from corpus_registry.registry.registry import Registry
    from corpus_registry.registry.sources import sync_sources

    _import_lazy_libraries("matplotlib.figure", "matplotlib.patches", "matplotlib.style", "fasttext")
    started = time.perf_counter()
    catalogue = work / "sources.yaml"
    catalogue.write_text(
        "sources:\n  - slug: bench\n    name: bench/build.py input\n    collection: OpenCulture\n"
        f"    license: public-domain\n    reader: {{allow_outside: true, kind: jsonl, path: {input_dir}, glob: '*.jsonl'}}\n",
        encoding="utf-8")
    registry = Registry(str(work / "registry.db"))
    registry.init()
    sync_sources(registry, catalogue_path=catalogue)
    t0 = time.perf_counter()
    [stats] = ingest(registry, progress=False, workers=1)
    t1 = time.perf_counter()
    spec = parse_spec({
        "name": "bench-build", "version": "1.0.0",
        "select": {"languages": LANGUAGES, "min_language_score": LANGUAGE_THRESHOLD},
        "filters": {name: {"enabled": False} for name in
                    ("length", "symbol_ratio", "digit_ratio", "repetition", "ocr_noise")},
        "dedup": {"exact": True, "near": True, "threshold": 0.8, "ngram": NGRAM},
    })
    result = build_release(registry, spec, out_dir=work / "release", progress=False)
    t2 = time.perf_counter()
    usage = _usage()
    with registry.session() as s:
        ids = dict(s.execute(select(Document.id, Document.identifier)).all())
        fates = s.execute(select(ReleaseDocument.document_id, ReleaseDocument.stage,
                                 ReleaseDocument.duplicate_of, ReleaseDocument.similarity)
                          .where(ReleaseDocument.release_id == result.release_id)).all()
    reached, dups = [], []
    for doc_id, stage, dup_of, sim in fates:
        if stage in (None, "exact_dedup", "near_dedup"):
            reached.append(ids[doc_id])
        if dup_of is not None:
            dups.append([ids[doc_id], ids[dup_of], stage, sim])
    return {
        "seconds": t2 - t0, "ingest_s": t1 - t0, "build_s": t2 - t1, "setup_s": t0 - started,
        "import_s": started - t_import, "ingested": stats.seen, "kept": result.rows,
        "reached_dedup": reached, "dups": dups, **usage,
    }


def side_datatrove(input_dir: Path, work: Path, *, tokenizer: str = "spacy") -> dict[str, Any]:
    import datatrove_pipeline as dt

    _import_lazy_libraries("fasttext.FastText", *(["spacy"] if tokenizer == "spacy" else []))
    t0 = time.perf_counter()
    parts = dt.run_pipeline(input_dir=input_dir, work=work, languages=LANGUAGES, tokenizer=tokenizer)
    seconds = time.perf_counter() - t0
    usage = _usage()
    clusters = dt.clusters(work)
    kept = dt.kept_ids(work)
    with (work / "lang" / "00000.jsonl").open(encoding="utf-8") as f:
        reached = [json.loads(line)["id"] for line in f]
    # Reported pairs: every dropped cluster member → the cluster's one kept member.
    keeper: dict[int, str] = {c: i for i, c in clusters.items() if i in kept}
    dups = [[i, keeper.get(c), "minhash", None] for i, c in clusters.items() if i not in kept]
    return {"seconds": seconds, **parts, "kept": len(kept), "reached_dedup": reached,
            "clusters": clusters, "dups": dups, **usage}


# -- scoring -----------------------------------------------------------------------------------

class _Clusters:
    """Union-find over reported duplicate edges."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def score(side: dict[str, Any], pairs: list[Pair], texts: dict[str, str]) -> dict[str, Any]:
    """Recall of true pairs, precision of reported pairs, and what the misses look like."""
    uf = _Clusters()
    for dropped, kept, _, _ in side["dups"]:
        if kept is not None:
            uf.union(dropped, kept)
    if "clusters" in side:  # datatrove: cluster ids are authoritative
        by_cluster: dict[int, str] = {}
        for ident, c in side["clusters"].items():
            uf.union(ident, by_cluster.setdefault(c, ident))
    reached = set(side["reached_dedup"])
    eligible = [p for p in pairs if p.kind == "true" and p.a in reached and p.b in reached]
    found = [p for p in eligible if uf.find(p.a) == uf.find(p.b)]
    missed = sorted(p.jaccard for p in eligible if uf.find(p.a) != uf.find(p.b))
    negatives = [p for p in pairs if p.kind == "negative" and p.a in reached and p.b in reached]
    neg_merged = sum(1 for p in negatives if uf.find(p.a) == uf.find(p.b))
    reported = [(a, b) for a, b, stage, _ in side["dups"] if b is not None and stage != "exact_dedup"]
    cache: dict[str, set[str]] = {}

    def sh(i: str) -> set[str]:
        if i not in cache:
            cache[i] = shingles(texts[i])
        return cache[i]

    true_j = [jaccard(sh(a), sh(b)) for a, b in reported]
    good = sum(1 for j in true_j if j >= PRECISION_TOLERANCE)
    injected = {frozenset((p.a, p.b)) for p in pairs}
    return {
        "recall": len(found) / len(eligible) if eligible else float("nan"),
        "eligible_true_pairs": len(eligible), "true_pairs": sum(p.kind == "true" for p in pairs),
        "missed_jaccards": missed[:10],
        "precision": good / len(reported) if reported else 1.0,
        "reported_pairs": len(reported), "false_pairs": len(reported) - good,
        "reported_not_injected": sum(1 for a, b in reported if frozenset((a, b)) not in injected),
        "worst_reported_jaccard": min(true_j) if true_j else None,
        "negatives_merged": neg_merged, "negatives": len(negatives),
    }


# -- driver ------------------------------------------------------------------------------------

SIDES = ("project", "datatrove", "datatrove-ws")


def _run_side(name: str, input_dir: Path, work: Path, *, cpu: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    out = work / "result.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "TQDM_DISABLE": "1"}
    cmd = ["taskset", "-c", str(cpu), sys.executable, __file__, "--side", name, "--input-dir", str(input_dir),
           "--work", str(work), "--out", str(out)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with (work / "stderr.log").open("w") as err:
        proc = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=err, env=env)
    if proc.returncode:
        tail = (work / "stderr.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"{name} side failed (exit {proc.returncode}); end of {work / 'stderr.log'}:\n{tail}")
    result = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - t0
    result["load_before"] = load
    result["load_after"] = os.getloadavg()[0]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=50_000, help="documents in the input (default 50000)")
    ap.add_argument("--skip-datatrove", action="store_true", help="run this project's side only")
    ap.add_argument("--no-whitespace-variant", action="store_true",
                    help="skip the second datatrove run (whitespace word tokenizer instead of spaCy)")
    ap.add_argument("--cpu", type=int, default=0, help="the one core every side is pinned to (default 0)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp dir)")
    ap.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    ap.add_argument("--input-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        if args.side == "project":
            r = side_project(args.input_dir, args.work)
        else:
            r = side_datatrove(args.input_dir, args.work,
                               tokenizer="spacy" if args.side == "datatrove" else "whitespace")
        args.out.write_text(json.dumps(r))
        return

    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        root = args.keep or Path(tmp)
        input_dir = root / "input"
        input_dir.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        pairs = make_input(input_dir / "docs.jsonl", args.docs)
        texts = read_texts(input_dir / "docs.jsonl")
        n_true = sum(p.kind == "true" for p in pairs)
        print(f"input: {len(texts):,} documents, {sum(map(len, texts.values())) / 1e6:.1f} MB, "
              f"{n_true} true pairs (J {min(p.jaccard for p in pairs if p.kind == 'true'):.2f}-"
              f"{max(p.jaccard for p in pairs if p.kind == 'true'):.2f}), "
              f"{len(pairs) - n_true} hard negatives; made in {time.perf_counter() - t:.1f} s")
        print(f"languages kept: {', '.join(LANGUAGES)} (score > {LANGUAGE_THRESHOLD}); one core each "
              f"(taskset -c {args.cpu}); load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        results: dict[str, dict[str, Any]] = {}
        sides = ["project"] if args.skip_datatrove else (
            ["datatrove", "project"] if args.no_whitespace_variant else ["datatrove", "datatrove-ws", "project"])
        for name in sides:
            r = _run_side(name, input_dir, root / name, cpu=args.cpu)
            r["score"] = score(r, pairs, texts)
            results[name] = r
            print(f"  {name}: {r['seconds']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
        _report(results, len(texts))


def _report(results: dict[str, dict[str, Any]], docs: int) -> None:
    print()
    print(f"{'':26}" + "".join(f"{name:>14}" for name in results))
    rows = [
        ("wall time (s)", lambda r: f"{r['seconds']:.1f}"),
        ("CPU time, process (s)", lambda r: f"{r['cpu_s']:.1f}"),
        ("CPU / wall (1 = no wait)", lambda r: f"{r['cpu_s'] / r['wall_s']:.2f}"),
        ("docs/s end to end", lambda r: f"{docs / r['seconds']:,.0f}"),
        ("peak RSS (MB)", lambda r: f"{r['peak_rss_mb']:.0f}"),
        ("reached dedup", lambda r: f"{len(r['reached_dedup']):,}"),
        ("kept (Parquet rows)", lambda r: f"{r['kept']:,}"),
        ("recall (J>=0.8)", lambda r: f"{r['score']['recall']:.4f}"),
        ("precision (J>=0.7)", lambda r: f"{r['score']['precision']:.4f}"),
        ("reported pairs", lambda r: f"{r['score']['reported_pairs']:,}"),
        ("hard negatives merged", lambda r: f"{r['score']['negatives_merged']}/{r['score']['negatives']}"),
        ("load avg before/after", lambda r: f"{r['load_before']:.1f}/{r['load_after']:.1f}"),
    ]
    for label, fmt in rows:
        print(f"{label:<26}" + "".join(f"{fmt(r):>14}" for r in results.values()))
    p = results["project"]
    print(f"project parts: ingest {p['ingest_s']:.1f} s ({docs / p['ingest_s']:,.0f} docs/s), "
          f"build {p['build_s']:.1f} s; setup {p['setup_s']:.1f} s and imports {p['import_s']:.1f} s not counted")
    for name in ("datatrove", "datatrove-ws"):
        if name in results:
            d = results[name]
            print(f"{name} parts: " + ", ".join(
                f"{k.removesuffix('_s')} {d[k]:.1f} s" for k in
                ("language_s", "signature_s", "buckets_s", "cluster_s", "filter_write_s")))
    for name, r in results.items():
        s = r["score"]
        print(f"{name}: {s['eligible_true_pairs']}/{s['true_pairs']} true pairs reached dedup; missed "
              f"Jaccards {[round(j, 3) for j in s['missed_jaccards']]}; {s['false_pairs']} reported pairs "
              f"below J {PRECISION_TOLERANCE} (worst {_fmt(s['worst_reported_jaccard'])}); "
              f"{s['reported_not_injected']} reported pairs not injected")
    ps = p["score"]
    fields = []
    if "datatrove" in results:
        fields.append(f"ratio_vs_datatrove={results['datatrove']['seconds'] / p['seconds']:.2f}")
    fields += [f"docs_per_s={docs / p['seconds']:.0f}", f"recall={ps['recall']:.4f}",
               f"precision={ps['precision']:.4f}", f"peak_rss_mb={p['peak_rss_mb']:.0f}"]
    if "datatrove" in results:
        d = results["datatrove"]
        fields += [f"datatrove_s={d['seconds']:.1f}", f"project_s={p['seconds']:.1f}",
                   f"datatrove_peak_rss_mb={d['peak_rss_mb']:.0f}", f"datatrove_recall={d['score']['recall']:.4f}"]
    else:
        fields.append(f"project_s={p['seconds']:.1f}")
    if "datatrove" in results:
        fields.append(f"ratio_cpu_vs_datatrove={results['datatrove']['cpu_s'] / p['cpu_s']:.2f}")
    if "datatrove-ws" in results:
        ws = results["datatrove-ws"]
        fields += [f"ratio_vs_datatrove_ws={ws['seconds'] / p['seconds']:.2f}", f"datatrove_ws_s={ws['seconds']:.1f}"]
    fields.append(f"docs={docs}")
    print("RESULT " + " ".join(fields))


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    main()
