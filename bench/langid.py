"""Language-id candidates side by side: accuracy per language, on word pairs, and speed on one core.

Held-out set: bench/data/langid-heldout.tsv.gz, 20,996 sentences in 21 languages (fr en de es
it pt nl pl ca la sv fi ro cs hu da el ru ar zh ja) from texts no detector was trained on (see
bench/data/README.md). Every row is in the ``tune`` half (the ensemble's thresholds were chosen
on it) or the ``test`` half; only the test half is reported unless ``--split`` says otherwise.

Each candidate runs exactly as ingest runs it: ``get_identifier(name).identify_many(texts)``,
windows, votes and all. "unrestricted" is what ingest does for a source that declares no
languages (every language the backend knows: 176 for fastText, 140 for py3langid); "21 langs"
restricts to the test's languages, as a source or spec that declares its languages may
(langdetect has no Latin profile: it is restricted to the 20 others). Word pairs are two
adjacent words from the middle of each test sentence (four characters for Chinese and
Japanese, written without spaces).

Throughput is sentences per second of ``identify_many`` over the test sentences on one core
(the process is pinned to one CPU, OMP/MKL threads 1): every chunk of 16 sentences is timed 7
times, and the sum of each chunk's best time gives ``sents/s`` (an undisturbed core; the
machine is shared), the sum of the medians ``(typical)``. ``docs/s`` is the same on ~2 KB
documents cut from the bundled books (chunks of 4).

Run: .venv/bin/python bench/langid.py [--split test|tune|all] [--quick]   (3-4 minutes; --quick ~1)
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus_registry.registry.langid import DEFAULT_BACKEND, LanguageIdentifier, get_identifier  # noqa: E402

HELDOUT = ROOT / "bench" / "data" / "langid-heldout.tsv.gz"
DATA = ROOT / "data"
LANGS = "fr en de es it pt nl pl ca la sv fi ro cs hu da el ru ar zh ja".split()
DOC_CHARS = 2000
BARS = {"accuracy": 0.985, "la": 0.95, "ca": 0.95, "sents_per_s": 10_000}


@dataclass
class Row:
    name: str
    accuracy: float = 0.0
    per_lang: dict[str, float] = field(default_factory=dict)
    pairs: float = 0.0
    pairs_per_lang: dict[str, float] = field(default_factory=dict)
    sents_per_s: float = 0.0
    typical_sents_per_s: float = 0.0
    docs_per_s: float = 0.0
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)


def load(split: str) -> list[tuple[str, str]]:
    with gzip.open(HELDOUT, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(r["language"], r["text"]) for r in reader if split in ("all", r["split"])]


def word_pair(lang: str, sentence: str) -> str:
    if lang in {"zh", "ja"}:
        middle = len(sentence) // 2
        return sentence[max(0, middle - 2) : middle + 2]
    words = sentence.split()
    middle = max(0, len(words) // 2 - 1)
    return " ".join(words[middle : middle + 2])


def two_kb_documents(limit: int) -> list[str]:
    """~2 KB documents cut from the bundled books and UDHR files (real, varied text)."""
    docs: list[str] = []
    paths = sorted(DATA.glob("gutenberg-*/*/*.txt")) + sorted(DATA.glob("gutenberg-*/*/*/*.txt"))
    texts = [p.read_text(encoding="latin-1") for p in paths]
    texts += [p.read_text(encoding="utf-8-sig") for p in sorted((DATA / "nltk-udhr" / "udhr").glob("*.txt"))]
    for text in texts:
        docs.extend(text[i : i + DOC_CHARS] for i in range(0, len(text) - DOC_CHARS, DOC_CHARS))
    docs = [d for k in range(7) for d in docs[k::7]]  # interleave sources
    return docs[:limit]


def rate(func: Callable[[list[str]], object], items: list[str], *, chunk: int, reps: int) -> tuple[float, float]:
    """(items/s on an undisturbed core, items/s typical): best and median time of each chunk.

    Every chunk of ``chunk`` items is timed ``reps`` times; the sum of the best times is what
    one core does when nothing else runs on it (the machine is shared: another process taking
    the core for a few ms inflates single timings, never the best of several), the sum of the
    medians what it did on this machine today.
    """
    func(items[:chunk])  # warm-up (loads lazily built restricted models)
    best = typical = 0.0
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        times = []
        for _ in range(reps):
            began = time.perf_counter()
            func(part)
            times.append(time.perf_counter() - began)
        times.sort()
        best += times[0]
        typical += times[len(times) // 2]
    return len(items) / best, len(items) / typical


def score(ident: LanguageIdentifier, gold: Sequence[str], texts: Sequence[str],
          row_confusions: Counter[tuple[str, str]] | None = None) -> tuple[float, dict[str, float]]:
    got = [r.language for r in ident.identify_many(texts)]
    hits, totals = Counter(), Counter(gold)
    for want, have in zip(gold, got):
        if want == have:
            hits[want] += 1
        elif row_confusions is not None:
            row_confusions[(want, have)] += 1
    return sum(hits.values()) / len(gold), {lang: hits[lang] / totals[lang] for lang in totals}


def measure(name: str, label: str, ident: LanguageIdentifier, data: list[tuple[str, str]],
            docs: list[str], *, step: int) -> Row:
    sample = data[::step]
    gold, texts = [g for g, _ in sample], [t for _, t in sample]
    row = Row(label)
    row.accuracy, row.per_lang = score(ident, gold, texts, row.confusions)
    row.pairs, row.pairs_per_lang = score(ident, gold, [word_pair(g, t) for g, t in sample])
    reps = 7 if step == 1 else 3 if name != "langdetect" else 2
    row.sents_per_s, row.typical_sents_per_s = rate(ident.identify_many, texts, chunk=16, reps=reps)
    doc_sample = docs[: max(64, len(docs) // step)]
    row.docs_per_s, _ = rate(ident.identify_many, doc_sample, chunk=4, reps=reps)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description="language-id candidates side by side")
    parser.add_argument("--split", choices=["test", "tune", "all"], default="test")
    parser.add_argument("--quick", action="store_true", help="every 5th sentence; langdetect every 25th")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    data = load(args.split)
    docs = two_kb_documents(3000)
    print(f"held-out sentences: {len(data)} ({args.split} half) in {len(set(g for g, _ in data))} languages, "
          f"from {HELDOUT.relative_to(ROOT)}")
    print(f"one core: pid {os.getpid()} affinity {sorted(os.sched_getaffinity(0))}\n")

    base = 5 if args.quick else 1
    candidates = [
        ("fasttext", None), ("py3langid", None), ("ensemble", None), ("langdetect", None),
        ("fasttext", LANGS), ("py3langid", LANGS), ("ensemble", LANGS),
        ("langdetect", [lang for lang in LANGS if lang != "la"]),
    ]
    rows: list[Row] = []
    for name, langs in candidates:
        label = f"{name}{'' if langs is None else ' [21 langs]'}"
        ident = get_identifier(name, languages=langs)
        step = base * (5 if name == "langdetect" else 1)
        rows.append(measure(name, label, ident, data, docs, step=step))
        r = rows[-1]
        print(f"  measured {label:24} acc {r.accuracy:.2%}  pairs {r.pairs:.2%}  {r.sents_per_s:,.0f} sents/s",
              flush=True)

    print(f"\n{'lang':6}" + "".join(f"{r.name.replace(' [21 langs]', '*'):>12}" for r in rows))
    for lang in LANGS:
        print(f"{lang:6}" + "".join(f"{r.per_lang.get(lang, 0.0):>12.1%}" for r in rows))
    print("(* restricted to the 21 languages; langdetect to 20: it has no Latin)\n")
    print("word pairs")
    for lang in LANGS:
        print(f"{lang:6}" + "".join(f"{r.pairs_per_lang.get(lang, 0.0):>12.1%}" for r in rows))
    print()
    print(f"{'candidate':26}{'sentences':>10}{'pairs':>9}{'la':>8}{'ca':>8}{'min lang':>10}"
          f"{'sents/s':>10}{'(typical)':>10}{'2KB docs/s':>12}")
    for r in rows:
        worst = min(r.per_lang, key=lambda lang: r.per_lang[lang])
        print(f"{r.name:26}{r.accuracy:>10.2%}{r.pairs:>9.2%}{r.per_lang['la']:>8.1%}{r.per_lang['ca']:>8.1%}"
              f"{worst + ' ' + format(r.per_lang[worst], '.1%'):>10}{r.sents_per_s:>10,.0f}"
              f"{r.typical_sents_per_s:>10,.0f}{r.docs_per_s:>12,.0f}")
    default = next(r for r in rows if r.name == DEFAULT_BACKEND)
    print(f"\ndefault ({DEFAULT_BACKEND}, unrestricted) most frequent errors (gold -> answer): "
          + ", ".join(f"{g}->{a} {n}" for (g, a), n in default.confusions.most_common(10)))
    meets = (default.accuracy >= BARS["accuracy"] and default.per_lang["la"] >= BARS["la"]
             and default.per_lang["ca"] >= BARS["ca"] and default.sents_per_s >= BARS["sents_per_s"])
    restricted = next(r for r in rows if r.name == f"{DEFAULT_BACKEND} [21 langs]")
    print(
        f"RESULT default={DEFAULT_BACKEND} split={args.split} sentences={len(data[::base])} "
        f"accuracy={default.accuracy:.4f} latin={default.per_lang['la']:.4f} catalan={default.per_lang['ca']:.4f} "
        f"word_pairs={default.pairs:.4f} sents_per_s={default.sents_per_s:.0f} "
        f"typical_sents_per_s={default.typical_sents_per_s:.0f} "
        f"docs_per_s={default.docs_per_s:.0f} restricted_accuracy={restricted.accuracy:.4f} "
        + " ".join(f"{r.name.split()[0]}{'_21' if '[' in r.name else ''}_accuracy={r.accuracy:.4f}"
                   for r in rows if r.name.split()[0] != DEFAULT_BACKEND)
        + f" meets_bar={'yes' if meets else 'no'}"
    )


if __name__ == "__main__":
    main()
