"""Benchmark: what counting tokens costs a build (``tokenizer:`` in the spec), and how fast
``count_tokens`` (``encode_batch`` in bounded batches) encodes compared with one ``encode`` per text.

Prepares a registry of N passages cut from the bundled texts (as ``bench/audit.py`` does), trains a
BPE tokenizer (8,000 tokens) on bundled texts, saves it as a tokenizer.json, then builds the same
release without and with it (one worker, filters and dedup off, so the difference is the counting;
each build ``--repeat`` times, the fastest kept) and encodes the passages both ways on their own.

    .venv/bin/python bench/tokens.py               # 20,000 passages of ~200 words
    .venv/bin/python bench/tokens.py --docs 5000

Ends with ``RESULT build_s=... build_tokens_s=... token_overhead=... tokens=... batch_tokens_per_s=...
single_tokens_per_s=... batch_speedup=...``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def train(path: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    files = sorted((REPO / "data").glob("gutenberg-*/**/*.txt"))[:8]
    texts = [p.read_bytes().decode("utf-8", "replace") for p in files]
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(vocab_size=8000, special_tokens=["[UNK]"],
                                                               show_progress=False))
    tok.save(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000, help="passages in the release")
    parser.add_argument("--words", type=int, default=200, help="words per passage")
    parser.add_argument("--repeat", type=int, default=2, help="time each build this many times, keep the fastest")
    args = parser.parse_args()

    from audit import passages, prepare  # bench/audit.py: the same passages and registry

    from corpus_registry.build.builder import build_release
    from corpus_registry.build.release import read_manifest
    from corpus_registry.build.spec import parse_spec
    from corpus_registry.build.tokens import count_tokens, load_tokenizer
    from corpus_registry.registry.registry import Registry

    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        work = Path(tmp)
        url, _, timings = prepare(work, args.docs, words=args.words)
        print(f"prepared {args.docs:,} passages: ingest {timings['ingest']:.1f} s", flush=True)
        tokenizer = work / "tokenizer.json"
        train(tokenizer)
        reg = Registry(url)
        off = {"enabled": False}
        base = {"name": "bench-tokens", "select": {"license_tiers": ["public_domain", "attribution", "share_alike"]},
                "filters": {n: off for n in ("length", "symbol_ratio", "digit_ratio", "repetition", "ocr_noise")},
                "dedup": {"exact": False, "near": False}}

        def timed(spec: dict, out: Path) -> float:
            started = time.perf_counter()
            build_release(reg, parse_spec(spec), out_dir=out, progress=False, record=False)
            return time.perf_counter() - started

        plain = min(timed({**base, "version": "1.0.0"}, work / f"plain-{i}") for i in range(args.repeat))
        counted = min(timed({**base, "version": "1.0.1", "tokenizer": str(tokenizer)}, work / f"tokens-{i}")
                      for i in range(args.repeat))
        tokens = read_manifest(work / "tokens-0")["counts"]["kept_tokens"]
        reg.dispose()

        texts = list(passages(args.docs, words=args.words))
        tok = load_tokenizer(str(tokenizer))
        started = time.perf_counter()
        batched = count_tokens(tok, texts)
        batch_s = time.perf_counter() - started
        started = time.perf_counter()
        single = [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]
        single_s = time.perf_counter() - started
        assert batched == single
    load = os.getloadavg()
    n = sum(batched)
    print(f"build {plain:.2f} s, with token counts {counted:.2f} s ({counted / plain:.2f}x; {tokens:,} tokens); "
          f"count_tokens {n / batch_s:,.0f} tokens/s, one encode per text {n / single_s:,.0f} tokens/s; "
          f"load {load[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"RESULT build_s={plain:.2f} build_tokens_s={counted:.2f} token_overhead={counted / plain:.3f} "
          f"tokens={tokens} batch_tokens_per_s={n / batch_s:.0f} single_tokens_per_s={n / single_s:.0f} "
          f"batch_speedup={single_s / batch_s:.2f} load_1m={load[0]:.2f}")


if __name__ == "__main__":
    main()
