"""Scale evidence: ingest, a French-slice build and an audit at 100k, 300k and 1M documents.

The corpus is made of the bundled real texts: each document is a handful of sentences drawn from
one real book / law / declaration (so it is real language, in ~40 languages, and distinct), plus
recorded duplicates: every 97th document is an exact copy of an earlier one and every 41st a
near-duplicate (a few words changed). Each step runs as the real CLI in its own process tree,
whose total resident memory is sampled; ``cost_growth`` is the per-document time at the largest
size over that at the smallest, worst of the three steps (1.0 = perfectly linear).

The speedup of ``--workers`` over one worker is measured at the largest size (``--compare-at``),
where a build's fixed costs (starting workers, the card) no longer dominate: the build is run
again with one worker on the same registry (``--compare-all``: ingest and audit too, from scratch).

With ``--memory SIZE`` every build runs within that budget (``build --memory``), and the build at
the smallest size is run once more without one: the two releases must be the same bytes
(``same_as_in_memory=1``; the bench fails otherwise).

    python bench/scale.py                                  # 100k, 300k, 1M (about 45 min)
    python bench/scale.py --sizes 20000,60000 --workers 2  # quick look
    python bench/scale.py --sizes 300000,3000000 --memory 1GB
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import real_texts  # noqa: E402

_SENT = re.compile(r"(?<=[.!?;:。])\s+")


def generate(path: Path, n: int, *, seed: int = 7) -> dict[str, int]:
    """Write ``n`` documents as JSONL; returns counts of injected duplicates."""
    rng = random.Random(seed)
    pools = []
    for name, text in real_texts():
        sents = [s for s in _SENT.split(" ".join(text.split())) if 20 <= len(s) <= 400]
        if len(sents) >= 12:
            pools.append((name.replace("/", "_"), sents))
    weights = [len(s) for _, s in pools]
    recent: list[str] = []
    exact = near = 0
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            if i and i % 97 == 0:
                text = rng.choice(recent)
                exact += 1
            elif i and i % 41 == 0:
                words = rng.choice(recent).split()
                for _ in range(max(1, len(words) // 40)):
                    words[rng.randrange(len(words))] = rng.choice(["donc", "alors", "aussi", "puis"])
                text = " ".join(words)
                near += 1
            else:
                name, sents = rng.choices(pools, weights)[0]
                start = rng.randrange(len(sents) - 6)
                picks = sorted(rng.sample(range(len(sents)), 3)) + list(range(start, start + 3))
                text = " ".join(sents[j] for j in picks)
            recent.append(text)
            if len(recent) > 5000:
                recent.pop(0)
            f.write(json.dumps({"id": f"doc-{i:07d}", "text": text}, ensure_ascii=False) + "\n")
    return {"exact_duplicates": exact, "near_duplicates": near}


def run_step(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; return (seconds, peak RSS in MB of its whole process tree, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # audit exits 1 when it finds problems
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return seconds, peak / 1e6, out


def run_size(n: int, workers: int, work: Path, memory: str | None = None) -> dict[str, float]:
    data = work / f"docs-{n}.jsonl"
    if not data.exists():
        generate(data, n)
    root = work / f"n{n}-w{workers}"
    root.mkdir()
    (root / "sources.yaml").write_text(
        "sources:\n  - slug: passages\n    name: Passages of the bundled real texts\n"
        "    collection: OpenCulture\n    license: public-domain\n"
        f"    reader: {{allow_outside: true, kind: jsonl, path: {data}}}\n", encoding="utf-8")
    (root / "fr.yaml").write_text(
        "name: scale-fr\nversion: 1.0.0\nselect: {languages: [fr]}\nfilters: {length: {min_words: 20}}\n",
        encoding="utf-8")
    env = {**os.environ, "CORPUS_REGISTRY_DB": str(root / "registry.db"), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "corpus_registry.cli"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "sources", "sync", str(root / "sources.yaml")], env=env, check=True, capture_output=True)
    w = ["--workers", str(workers), "--no-progress"]
    r: dict[str, float] = {"docs": n}
    r["ingest_s"], r["ingest_rss"], _ = run_step([*cli, "ingest", *w], env)
    budget = ["--memory", memory] if memory else []
    r["build_s"], r["build_rss"], out = run_step([*cli, "build", str(root / "fr.yaml"), "--out", str(root / "out"),
                                                  *w, *budget, "--json"], env)
    built = json.loads(out)
    r["kept"] = built["rows"]
    r["files"] = built["files"]  # type: ignore[assignment]
    r["audit_s"], r["audit_rss"], _ = run_step([*cli, "audit", str(root / "out"), *w, "--format", "json"], env)
    return r


def rebuild(n: int, workers: int, work: Path, built_with: int, memory: str | None, out: str,
            version: str | None = None) -> dict[str, float]:
    """The build alone again, on the registry a :func:`run_size` filled, with other settings.
    ``version``: built as that version of the spec, a release of its own (the same version again
    first deletes the fates the first build recorded: time the first build did not spend)."""
    root = work / f"n{n}-w{built_with}"
    spec = root / "fr.yaml"
    if version is not None:
        spec = root / f"fr-{version}.yaml"
        spec.write_text((root / "fr.yaml").read_text(encoding="utf-8").replace("version: 1.0.0", f"version: {version}"),
                        encoding="utf-8")
    env = {**os.environ, "CORPUS_REGISTRY_DB": str(root / "registry.db"), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "corpus_registry.cli"]
    budget = ["--memory", memory] if memory else []
    r: dict[str, float] = {}
    r["build_s"], r["build_rss"], text = run_step(
        [*cli, "build", str(spec), "--out", str(root / out), "--workers", str(workers), "--no-progress",
         *budget, "--json"], env)
    r["files"] = json.loads(text)["files"]  # type: ignore[assignment]
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", type=Path, help="keep generated data here (default: a temp dir)")
    ap.add_argument("--compare-at", type=int, help="size at which to run one worker too (default: the largest)")
    ap.add_argument("--compare-all", action="store_true",
                    help="run ingest and audit with one worker too (default: the build alone, same registry)")
    ap.add_argument("--memory", help="build --memory SIZE for every build (e.g. 1GB); then the smallest size is "
                                     "built once more without a budget and the two must be the same bytes")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    tmp = tempfile.TemporaryDirectory(prefix="bench-scale-") if not args.workdir else None
    work = args.workdir or Path(tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    print(f"{'docs':>9} {'step':<7} {'seconds':>8} {'docs/s':>9} {'peak MB':>8}")
    rows = []
    for n in sizes:
        r = run_size(n, args.workers, work, args.memory)
        rows.append(r)
        for step in ("ingest", "build", "audit"):
            print(f"{n:>9,} {step:<7} {r[step + '_s']:>8.1f} {n / r[step + '_s']:>9,.0f} {r[step + '_rss']:>8.0f}")
        print(f"{'':>9} French slice kept {int(r['kept']):,} documents")
    small, big = rows[0], rows[-1]
    many = next((r for r in rows if r["docs"] == args.compare_at), big)
    same = ""
    if args.memory:
        free = rebuild(int(small["docs"]), args.workers, work, args.workers, None, "out-in-memory")
        equal = free["files"] == small["files"]
        print(f"{int(small['docs']):,} docs without a budget: build {free['build_s']:.1f}s, peak "
              f"{free['build_rss']:.0f} MB; same bytes as within --memory {args.memory}: {equal}")
        if not equal:
            raise SystemExit(f"the build within --memory {args.memory} differs from the in-memory build: "
                             + ", ".join(sorted(k for k in free["files"] if free["files"][k] != small["files"].get(k))))
        same = f" same_as_in_memory=1 build_rss_in_memory_{int(small['docs']) // 1000}k={free['build_rss']:.0f}"
    if args.workers == 1:
        one = many
    elif args.compare_all:
        one = run_size(int(many["docs"]), 1, work, args.memory)
    else:
        one = {**many, **rebuild(int(many["docs"]), 1, work, args.workers, args.memory, "out-1-worker",
                                 version="1.0.0-w1")}
    steps = {s: one[s + "_s"] / many[s + "_s"] for s in ("ingest", "build", "audit")
             if args.compare_all or s == "build" or args.workers == 1}
    total = lambda r: sum(r[s + "_s"] for s in steps)  # noqa: E731
    speedup = total(one) / total(many)
    print(f"{int(many['docs']):,} docs, 1 worker: " + " ".join(f"{s} {one[s + '_s']:.1f}s" for s in steps)
          + f"; {args.workers} workers: {speedup:.2f}x faster ("
          + ", ".join(f"{s} {v:.2f}x" for s, v in steps.items()) + ")")
    growth = max((big[s + "_s"] / big["docs"]) / (small[s + "_s"] / small["docs"]) for s in ("ingest", "build", "audit"))
    peak = max(r[s + "_rss"] for r in rows for s in ("ingest", "build", "audit"))
    build_peak = max(r["build_rss"] for r in rows)
    label = f"{big['docs'] // 1_000_000}m" if big["docs"] >= 1_000_000 else f"{big['docs'] // 1000}k"
    budget = f" memory={args.memory}" if args.memory else ""
    print(f"RESULT ingest_s_{label}={big['ingest_s']:.1f} build_s_{label}={big['build_s']:.1f} "
          f"audit_s_{label}={big['audit_s']:.1f} peak_rss_mb={peak:.0f} build_peak_rss_mb={build_peak:.0f} "
          f"cost_growth={growth:.2f} speedup_2_workers={speedup:.2f} "
          + " ".join(f"speedup_2_workers_{k}={v:.2f}" for k, v in steps.items()) + budget + same)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
