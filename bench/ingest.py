"""Ingest throughput and memory: the bundled real texts cut into ~2 KB passages, scaled up.

Each size runs in a fresh process (so peak RSS is that run's own) on one core, language id
included. ``rss_growth`` = peak RSS at the largest size / peak RSS at a tenth of it: ~1.0 means
memory does not grow with the number of documents.

    python bench/ingest.py               # 10,000 and 100,000 documents
    python bench/ingest.py --docs 20000  # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def run_one(n: int, workdir: Path) -> dict[str, float]:
    from corpus import write_jsonl

    from corpus_registry.registry.ingest import ingest
    from corpus_registry.registry.registry import Registry
    from corpus_registry.registry.sources import sync_sources

    src = workdir / f"passages-{n}.jsonl"
    if not src.exists():
        write_jsonl(src, n)
    cat = workdir / f"sources-{n}.yaml"
    cat.write_text(
        "sources:\n  - slug: passages\n    name: Passages of the bundled texts\n"
        "    collection: OpenCulture\n    license: public-domain\n"
        f"    reader: {{kind: jsonl, path: {src.name}}}\n", encoding="utf-8")
    reg = Registry(str(workdir / f"registry-{n}.db"))
    reg.init()
    sync_sources(reg, catalogue_path=cat)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, cpu0 = time.perf_counter(), time.process_time()
    [stats] = ingest(reg, progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert stats.added == n, stats
    return {"docs": n, "seconds": seconds, "docs_per_s": n / seconds, "cpu_docs_per_s": n / cpu,
            "mb_per_s": stats.bytes / 1e6 / seconds, "peak_rss_mb": peak, "rss_before_mb": rss_before}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000, help="largest size (default 100000)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.workdir)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for n in (args.docs // 10, args.docs):
            cmd = ["taskset", "-c", "0", sys.executable, __file__, "--one", str(n), "--workdir", tmp]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
            r = json.loads(out.strip().splitlines()[-1])
            results.append(r)
            print(f"{n:>8,} docs: {r['seconds']:7.1f} s  {r['docs_per_s']:8,.0f} docs/s  "
                  f"{r['mb_per_s']:6.2f} MB/s  ({r['cpu_docs_per_s']:,.0f} docs per CPU s)  peak RSS {r['peak_rss_mb']:6.0f} MB")
    small, large = results
    growth = large["peak_rss_mb"] / small["peak_rss_mb"]
    print(f"peak RSS at {large['docs']:,} / at {small['docs']:,} docs: {growth:.2f}")
    print(f"RESULT docs_per_s={large['docs_per_s']:.0f} mb_per_s={large['mb_per_s']:.2f} "
          f"cpu_docs_per_s={large['cpu_docs_per_s']:.0f} peak_rss_mb={large['peak_rss_mb']:.0f} rss_growth={growth:.2f} docs={large['docs']}")


if __name__ == "__main__":
    main()
