"""Benchmark: audit throughput (documents/s) and memory of `corpus_registry.audit.auditor`, on one core,
and the speedup of two worker processes over one.

Cuts N short passages from the bundled real texts (Gutenberg books, Code civil, Genesis, UDHR),
writes them as a JSONL source (mixed licences: public domain, CC-BY-4.0, CC-BY-SA-4.0), ingests
them into a temporary SQLite registry, builds a release of all of them (filters and dedup off),
then times the audit alone in a fresh process pinned to one CPU, so its peak RSS is the audit's.

Then the same audit with ``--workers 2`` (a fresh process free to use every CPU, worker
processes started by the audit itself, their start included), on the release and on the release
ten times over (symlinked shards, 10 N rows): each worker spends ≈0.6 s importing the package,
which the one-worker audit of 100,000 short passages (≈1.2 s) cannot amortise, the 10 N-row
audit can. Both runs must give the same report (compared without its timings).

    .venv/bin/python bench/audit.py               # 100,000 documents (about 1-2 minutes)
    .venv/bin/python bench/audit.py --docs 20000  # quicker

Ends with ``RESULT docs_per_s=... peak_rss_mb=... speedup_2_workers=...`` (docs_per_s and
peak_rss_mb: one worker on one core; speedup_2_workers: on the 10 N rows, speedup_2_workers_n_docs:
on the N rows).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = REPO / "data"
LICENCES = (["public-domain"] * 7) + (["CC-BY-4.0"] * 2) + ["CC-BY-SA-4.0"]


def passages(n: int, *, words: int) -> list[str]:
    """``n`` overlapping windows of ``words`` words over every bundled text (distinct starts)."""
    from charset_normalizer import from_bytes

    texts = []
    for path in sorted(DATA.rglob("*")):
        if path.suffix not in (".txt", ".md") or path.name in ("SOURCE.md", "README.md", "NEAR_DUPLICATES.md"):
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            best = from_bytes(raw).best()
            text = str(best) if best else raw.decode("latin-1")
        texts.append(text.split())
    total = sum(max(0, len(t) - words) for t in texts)
    stride = max(1, total // n)
    out: list[str] = []
    while len(out) < n:
        for t in texts:
            for start in range(len(out) % stride, max(0, len(t) - words), stride):
                out.append(" ".join(t[start:start + words]))
                if len(out) == n:
                    return out
        stride = max(1, stride - 1)  # not enough windows: take denser ones on the next pass
    return out


def prepare(work: Path, n: int, *, words: int) -> tuple[str, Path, dict[str, float]]:
    from corpus_registry.build.builder import build_release
    from corpus_registry.build.spec import parse_spec
    from corpus_registry.registry.ingest import ingest
    from corpus_registry.registry.registry import Registry
    from corpus_registry.registry.sources import sync_sources

    timings: dict[str, float] = {}
    t = time.perf_counter()
    src = work / "passages.jsonl"
    with src.open("w", encoding="utf-8") as f:
        for i, text in enumerate(passages(n, words=words)):
            f.write(json.dumps({"id": f"p{i:07d}", "text": text, "license": LICENCES[i % len(LICENCES)]},
                               ensure_ascii=False) + "\n")
    timings["generate"] = time.perf_counter() - t
    (work / "sources.yaml").write_text(f"""
sources:
  - slug: bench-passages
    name: Passages cut from the bundled real texts
    collection: OpenCulture
    license: public-domain
    attribution: corpus-registry benchmark passages
    reader:
      kind: jsonl
      path: {src}
      allow_outside: true
      id_field: id
      license_field: license
""", encoding="utf-8")
    url = f"sqlite:///{work / 'registry.db'}"
    reg = Registry(url)
    reg.init(store=str(work / "store"))
    sync_sources(reg, catalogue_path=work / "sources.yaml")
    t = time.perf_counter()
    ingest(reg, progress=False)
    timings["ingest"] = time.perf_counter() - t
    off = {"enabled": False}
    spec = parse_spec({
        "name": "bench-audit", "version": "1.0.0",
        "select": {"license_tiers": ["public_domain", "attribution", "share_alike"]},
        "filters": {name: off for name in ("length", "symbol_ratio", "digit_ratio", "repetition", "ocr_noise")},
        "dedup": {"exact": False, "near": False},
    })
    t = time.perf_counter()
    result = build_release(reg, spec, out_dir=work / "release", progress=False)
    timings["build"] = time.perf_counter() - t
    timings["rows"] = result.rows
    reg.dispose()
    return url, work / "release", timings


def _peak_rss() -> int:
    """This process's peak RSS in bytes. VmHWM, not ru_maxrss: after fork+exec Linux carries the
    parent's high-water mark into ru_maxrss, which would charge the ingest and build to the audit."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def audit_child(url: str, release: str, workers: int) -> None:
    """Run in a fresh process (pinned to one CPU for one worker): audit, report speed and memory as JSON."""
    if workers == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import psutil

    from corpus_registry.audit.auditor import audit
    from corpus_registry.audit.report import render_json
    from corpus_registry.executors import LocalExecutor
    from corpus_registry.registry.registry import Registry

    reg = Registry(url)
    executor = LocalExecutor(workers) if workers > 1 else None
    baseline = psutil.Process().memory_info().rss
    t = time.perf_counter()
    report = audit(reg, release, progress=False, executor=executor)
    seconds = time.perf_counter() - t
    peak = _peak_rss()
    if executor is not None:
        executor.close()
    comparable = json.loads(render_json(report))
    del comparable["seconds"], comparable["rows_per_s"]
    digest = hashlib.sha256(json.dumps(comparable, sort_keys=True).encode()).hexdigest()
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"rows": report.rows, "known": report.known, "ok": report.ok, "seconds": seconds,
                      "problems": report.problem_counts, "baseline_rss": baseline, "peak_rss": peak,
                      "workers_peak_rss": workers_rss, "license_mix": report.license_mix, "digest": digest}))


def run_audit(url: str, release: Path, *, workers: int = 1, repeat: int = 1) -> dict:
    """The fastest of ``repeat`` runs, each in a fresh process."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--audit-only", url, str(release), str(workers)],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def replicate(release: Path, dest: Path, copies: int) -> Path:
    """The release's shards ``copies`` times over, as symlinks: more rows, no more preparation."""
    dest.mkdir()
    for k in range(copies):
        for shard in sorted((release / "data").rglob("*.parquet")):
            (dest / f"{k}-{shard.parent.name}-{shard.name}").symlink_to(shard)
    return dest


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the audited release")
    parser.add_argument("--words", type=int, default=60, help="words per passage")
    parser.add_argument("--repeat", type=int, default=1, help="time each audit this many times, keep the fastest")
    parser.add_argument("--audit-only", nargs=3, metavar=("DB_URL", "RELEASE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.audit_only:
        url, target, workers = args.audit_only
        audit_child(url, target, int(workers))
        return
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        url, release, timings = prepare(Path(tmp), args.docs, words=args.words)
        print(f"prepared {int(timings['rows']):,} documents: generate {timings['generate']:.1f} s, "
              f"ingest {timings['ingest']:.1f} s, build {timings['build']:.1f} s")
        load_before = load()
        full = run_audit(url, release, repeat=args.repeat)
        # The same shards three times over: three times the rows, the same peak memory.
        tripled = run_audit(url, replicate(release, Path(tmp) / "triple", 3))
        two = run_audit(url, release, workers=2, repeat=args.repeat)
        tenfold = replicate(release, Path(tmp) / "tenfold", 10)
        big_one = run_audit(url, tenfold, repeat=args.repeat)
        big_two = run_audit(url, tenfold, workers=2, repeat=args.repeat)
        load_after = load()
    rate = full["rows"] / full["seconds"]
    mb = 1024 * 1024
    print(f"audit: {full['rows']:,} rows in {full['seconds']:.2f} s = {rate:,.0f} docs/s on one core "
          f"({'clean' if full['ok'] else 'NOT clean: ' + str(full['problems'])})")
    print(f"memory: {full['baseline_rss'] / mb:.0f} MB before the audit, peak {full['peak_rss'] / mb:.0f} MB")
    print(f"memory is flat: {tripled['rows']:,} rows (the shards three times) peak at "
          f"{tripled['peak_rss'] / mb:.0f} MB ({tripled['rows'] / tripled['seconds']:,.0f} docs/s)")
    print("licence mix: " + ", ".join(f"{m['license']} {m['documents']:,}" for m in full["license_mix"]))
    speedup_small = full["seconds"] / two["seconds"]
    speedup = big_one["seconds"] / big_two["seconds"]
    same = full["digest"] == two["digest"] and big_one["digest"] == big_two["digest"]
    print(f"2 workers: {two['rows']:,} rows in {two['seconds']:.2f} s ({speedup_small:.2f}x one worker; "
          f"worker start included); {big_two['rows']:,} rows in {big_two['seconds']:.2f} s against "
          f"{big_one['seconds']:.2f} s on one worker = {speedup:.2f}x "
          f"(workers' peak RSS {big_two['workers_peak_rss'] / mb:.0f} MB)")
    print(f"same report with 1 and 2 workers: {'yes' if same else 'NO'}; "
          f"load average (1/5/15 min) {load_before} before, {load_after} after, on {os.cpu_count()} CPUs")
    print(f"RESULT docs_per_s={rate:.0f} peak_rss_mb={full['peak_rss'] / mb:.0f} rows={full['rows']} "
          f"seconds={full['seconds']:.2f} peak_rss_mb_3x={tripled['peak_rss'] / mb:.0f} "
          f"speedup_2_workers={speedup:.2f} speedup_2_workers_n_docs={speedup_small:.2f} "
          f"same_report={'yes' if same else 'no'} load_1m={os.getloadavg()[0]:.2f}")
    if not same:
        sys.exit("the report depends on the number of workers")


if __name__ == "__main__":
    main()
