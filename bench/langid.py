"""Language-id backends compared: accuracy and speed on held-out sentences, on one core.

Held-out set: sentences (>= 30 characters) of the UDHR translations bundled in
data/nltk-udhr (the language is the file-name prefix). Neither backend was trained on these
files: fastText lid.176 was trained by Facebook on Wikipedia, Tatoeba and SETimes, langdetect's
profiles on Wikipedia abstracts; the files are only read here, never used to fit anything.
(The one preprocessing choice, lowercasing windows for fastText, was checked on the Genesis
and Gutenberg samples too: it helped there as well, 91.6 -> 93.4 % on 6-word Genesis phrases.)
Up to 50 sentences per language, spread evenly over each file, deterministic.

Accuracy is given on the languages both backends know (langdetect has no profile for Latin,
Esperanto, Basque, Icelandic, Serbian; fastText knows all 40) and on all 40 languages.
Throughput: ``identify_many`` on the sentences (sentences/s) and on ~2 KB documents cut from
the bundled books and UDHR files (docs/s; ingest needs >= 2,000 docs/s of ~2 KB including
language id), plus the cost of one 1.4 MB novel (bounded by sampling).

Run: .venv/bin/python bench/langid.py   (about 15 s; pins itself to one core)
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langdetect.detector_factory import PROFILES_DIRECTORY

from corpus_registry.registry.langid import (
    BACKENDS,
    DEFAULT_BACKEND,
    LangdetectIdentifier,
    LanguageIdentifier,
    get_identifier,
)

DATA = ROOT / "data"
UDHR = DATA / "nltk-udhr" / "udhr"
PER_LANGUAGE = 50
MIN_SENTENCE = 30
DOC_CHARS = 2000
# Both backends call Norwegian Bokmål "no" (ISO 639-1 for Norwegian); the file prefix is "nb".
ALIASES = {"nb": "no"}
_SPLIT = re.compile(r"(?<=[.!?;。！？।۔])\s+|(?<=[。！？])|\n+")


def udhr_sentences() -> dict[str, list[str]]:
    """Expected code -> up to PER_LANGUAGE sentences, evenly spread over the file."""
    out: dict[str, list[str]] = {}
    for path in sorted(UDHR.glob("*.txt")):
        code = path.name.split("_", 1)[0]
        text = path.read_text(encoding="utf-8-sig")
        pieces = [" ".join(p.split()) for p in _SPLIT.split(text) if p]
        sentences = [p for p in pieces if len(p) >= MIN_SENTENCE]
        if len(sentences) > PER_LANGUAGE:
            step = len(sentences) / PER_LANGUAGE
            sentences = [sentences[int(i * step)] for i in range(PER_LANGUAGE)]
        out[ALIASES.get(code, code)] = sentences
    return out


def two_kb_documents(limit: int) -> list[str]:
    """~2 KB documents cut from the bundled books and UDHR files (real, varied text)."""
    docs: list[str] = []
    paths = sorted(DATA.glob("gutenberg-*/*/*.txt")) + sorted(DATA.glob("gutenberg-*/*/*/*.txt"))
    texts = [p.read_text(encoding="latin-1") for p in paths]
    texts += [p.read_text(encoding="utf-8-sig") for p in sorted(UDHR.glob("*.txt"))]
    for text in texts:
        docs.extend(text[i : i + DOC_CHARS] for i in range(0, len(text) - DOC_CHARS, DOC_CHARS))
    # interleave sources so a truncated list still mixes languages
    docs = docs[::7] + docs[1::7] + docs[2::7] + docs[3::7] + docs[4::7] + docs[5::7] + docs[6::7]
    return docs[:limit]


def rate(func: Callable[[], object], items: int, *, min_seconds: float = 1.0) -> float:
    """Items per second of ``func`` (repeated until ``min_seconds`` have passed)."""
    func()  # warm-up
    runs, start = 0, time.perf_counter()
    while True:
        func()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return items * runs / elapsed


def accuracy(
    identifier: LanguageIdentifier, data: dict[str, list[str]], langs: Sequence[str]
) -> tuple[float, dict[str, float]]:
    per_lang: dict[str, float] = {}
    hits = total = 0
    for lang in langs:
        results = identifier.identify_many(data[lang])
        ok = sum(r.language == lang for r in results)
        per_lang[lang] = ok / len(results)
        hits += ok
        total += len(results)
    return hits / total, per_lang


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    data = {lang: s for lang, s in udhr_sentences().items() if len(s) >= 20}
    all_langs = sorted(data)
    ld_known = {f.name.split("-")[0] for f in Path(PROFILES_DIRECTORY).iterdir()}
    common = [lang for lang in all_langs if lang in ld_known]
    n_sent = sum(len(data[lang]) for lang in common)
    print(
        f"held-out UDHR sentences: {sum(len(s) for s in data.values())} in {len(all_langs)} "
        f"languages; {n_sent} in the {len(common)} languages both backends know"
    )
    print(f"one core: pid {os.getpid()} affinity {sorted(os.sched_getaffinity(0))}\n")

    flat = [s for lang in common for s in data[lang]]
    docs = two_kb_documents(4000)
    big = (DATA / "gutenberg-fr/pg13951-les-trois-mousquetaires/13951-8.txt").read_text(
        encoding="latin-1"
    )
    rows: dict[str, dict[str, float]] = {}
    per_lang: dict[str, dict[str, float]] = {}
    for name in BACKENDS:
        ident = get_identifier(name)
        acc_common, per_lang[name] = accuracy(ident, data, common)
        acc_all, per_lang_all = accuracy(ident, data, all_langs)
        per_lang[name].update(per_lang_all)
        slow = isinstance(ident, LangdetectIdentifier)
        sents = flat[::5] if slow else flat
        doc_sample = docs[:300] if slow else docs
        rows[name] = {
            "accuracy": acc_common,
            "accuracy_all": acc_all,
            "sents_per_s": rate(partial(ident.identify_many, sents), len(sents)),
            "docs_per_s": rate(partial(ident.identify_many, doc_sample), len(doc_sample)),
            "novel_ms": 1000 / rate(partial(ident.identify, big), 1, min_seconds=0.3),
        }

    print(f"{'lang':6}" + "".join(f"{name:>12}" for name in BACKENDS))
    for lang in all_langs:
        cells = "".join(
            f"{per_lang[name][lang]:>12.0%}"
            if name == "fasttext" or lang in ld_known
            else f"{'(no model)':>12}"
            for name in BACKENDS
        )
        print(f"{lang:6}{cells}")
    print()
    header = (
        f"{'backend':12}{'acc ' + str(len(common)) + ' langs':>16}"
        f"{'acc ' + str(len(all_langs)) + ' langs':>16}{'sents/s':>10}"
        f"{'2KB docs/s':>12}{'1.4MB novel':>13}"
    )
    print(header)
    for name, row in rows.items():
        print(
            f"{name:12}{row['accuracy']:>16.1%}{row['accuracy_all']:>16.1%}"
            f"{row['sents_per_s']:>10.0f}{row['docs_per_s']:>12.0f}{row['novel_ms']:>11.2f}ms"
        )
    print(
        f"\n2 KB docs/s is identify_many on {len(docs)} docs (fasttext) / 300 docs (langdetect): "
        f"each ~2 KB doc is judged on one ~1,000-char window."
    )
    ft, ld = rows["fasttext"], rows["langdetect"]
    print(
        f"RESULT fasttext_accuracy={ft['accuracy']:.4f} "
        f"fasttext_sents_per_s={ft['sents_per_s']:.0f} "
        f"langdetect_accuracy={ld['accuracy']:.4f} "
        f"langdetect_sents_per_s={ld['sents_per_s']:.0f} "
        f"fasttext_accuracy_all={ft['accuracy_all']:.4f} "
        f"langdetect_accuracy_all={ld['accuracy_all']:.4f} "
        f"fasttext_docs_per_s={ft['docs_per_s']:.0f} "
        f"langdetect_docs_per_s={ld['docs_per_s']:.0f} "
        f"languages={len(common)} "
        f"default={DEFAULT_BACKEND}"
    )


if __name__ == "__main__":
    main()
