"""Benchmark: what verifying every text read from the document store costs a build.

Every text a build reads back from the store is hashed (sha256 of its UTF-8 bytes, straight from
the Arrow buffer) and compared with the sha256 the registry holds. This prepares a registry of N
passages cut from the bundled texts (as ``bench/audit.py`` does) and times the same build with
verification on and off (off: the check replaced by one that accepts every text), alternating
(which goes first, too), each ``--repeat`` times, the fastest kept. Two specs:

- ``lean``: every filter and dedup off, so the build is little more than reading the texts once
  and writing them (the worst case for the relative cost);
- ``full``: the default filters, exact and near dedup (texts read twice: to filter and sign, then
  to write).

Builds run in this process, one worker (the check is per text, so workers divide it alike).

    .venv/bin/python bench/verify.py              # 100,000 passages (a few minutes)
    .venv/bin/python bench/verify.py --docs 20000

Ends with ``RESULT lean_on_s=... lean_off_s=... lean_overhead=... lean_cpu_overhead=... full_on_s=...
full_off_s=... full_overhead=... full_cpu_overhead=... hash_all_s=... hashed_mb_per_s=...`` (overhead:
on / off − 1, of the fastest wall-clock and of the least CPU time; CPU time is the steadier on a
shared machine; ``hash_all_s``: CPU seconds hashing every text of the store once, alone).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="passages in the registry")
    parser.add_argument("--words", type=int, default=150, help="words per passage")
    parser.add_argument("--repeat", type=int, default=3, help="time each build this many times, keep the fastest")
    args = parser.parse_args()

    import pyarrow.parquet as pq
    from audit import prepare  # bench/audit.py: the same passages and registry

    from corpus_registry.build.builder import build_release
    from corpus_registry.build.spec import parse_spec
    from corpus_registry.registry import store
    from corpus_registry.registry.registry import Registry

    checked = store._Shard.read

    def unchecked(self: store._Shard, sha: str) -> str | store.Problem:
        """The same read without the hash."""
        row = self.rows.get(sha)
        if row is None:
            return store.Problem("missing_text", "the text is not in its shard")
        return str(self.data[self.offsets[row]:self.offsets[row + 1]], "utf-8")

    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = Path(tmp)
        url, _, timings = prepare(work, args.docs, words=args.words)
        print(f"prepared {args.docs:,} passages: ingest {timings['ingest']:.1f} s", flush=True)
        reg = Registry(url)
        off = {"enabled": False}
        specs = {
            "lean": {"filters": {n: off for n in ("length", "symbol_ratio", "digit_ratio", "repetition", "ocr_noise")},
                     "dedup": {"exact": False, "near": False}},
            "full": {},
        }
        best: dict[str, float] = {}
        select = {"license_tiers": ["public_domain", "attribution", "share_alike"]}
        build_release(reg, parse_spec({"name": "bench-verify", "version": "0.0.0-warmup", "select": select,
                                       **specs["lean"]}),
                      out_dir=work / "warm-up", progress=False, record=False)  # caches warm, untimed
        for i in range(args.repeat):
            for name, extra in specs.items():
                for verify in ((True, False) if i % 2 == 0 else (False, True)):  # neither always first
                    store._Shard.read = checked if verify else unchecked  # type: ignore[method-assign]
                    spec = parse_spec({"name": "bench-verify", "version": f"{i}.0.0-{name}.{int(verify)}",
                                       "select": select, **extra})
                    started, cpu = time.perf_counter(), time.process_time()
                    result = build_release(reg, spec, out_dir=work / f"out-{i}-{name}-{verify}", progress=False,
                                           record=False)
                    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                    key = f"{name}_{'on' if verify else 'off'}"
                    best[key] = min(best.get(key, seconds), seconds)
                    best[f"{key}_cpu"] = min(best.get(f"{key}_cpu", cpu), cpu)
                    print(f"  {key}: {seconds:.2f} s, CPU {cpu:.2f} s ({result.rows:,} rows)", flush=True)
        store._Shard.read = checked  # type: ignore[method-assign]
        texts = [t for shard in (work / "store" / "shards").rglob("*.parquet")
                 for t in pq.read_table(shard)["text"].to_pylist()]
        reg.dispose()
    data = [t.encode("utf-8") for t in texts]
    started = time.process_time()
    for b in data:
        hashlib.sha256(b).hexdigest()
    hash_s = time.process_time() - started  # CPU seconds
    mb = sum(len(b) for b in data) / 1e6
    over = {"lean": best["lean_on"] / best["lean_off"] - 1, "full": best["full_on"] / best["full_off"] - 1,
            "lean_cpu": best["lean_on_cpu"] / best["lean_off_cpu"] - 1,
            "full_cpu": best["full_on_cpu"] / best["full_off_cpu"] - 1}
    load = os.getloadavg()
    print(f"lean build {best['lean_on']:.2f} s verified vs {best['lean_off']:.2f} s not ({over['lean']:+.1%}; "
          f"CPU {over['lean_cpu']:+.1%}); full build {best['full_on']:.2f} s vs {best['full_off']:.2f} s "
          f"({over['full']:+.1%}; CPU {over['full_cpu']:+.1%}); hashing all {len(data):,} texts ({mb:.0f} MB) "
          f"alone {hash_s:.2f} s ({hash_s / best['lean_off_cpu']:.1%} of the lean build's CPU); "
          f"load {load[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"RESULT docs={args.docs} lean_on_s={best['lean_on']:.2f} lean_off_s={best['lean_off']:.2f} "
          f"lean_overhead={over['lean']:.3f} lean_cpu_overhead={over['lean_cpu']:.3f} "
          f"full_on_s={best['full_on']:.2f} full_off_s={best['full_off']:.2f} full_overhead={over['full']:.3f} "
          f"full_cpu_overhead={over['full_cpu']:.3f} hash_all_s={hash_s:.2f} hashed_mb_per_s={mb / hash_s:.0f} "
          f"load_1m={load[0]:.2f}")


if __name__ == "__main__":
    main()
