"""Benchmark: what writing a release safely costs (written beside --out, moved into place; an
existing release folder replaced only after every file in it is checked against its manifest).

Prepares a registry of N passages cut from the bundled texts (as ``bench/audit.py`` does), builds
the release into a new folder, then again into the same folder three ways: the same release (the
folder is kept as it is), a new version (the old folder is verified, then replaced), and times the
verification of the folder alone (``check_own_release``: sha256 of every file). Each build is timed
``--repeat`` times, the fastest kept.

    .venv/bin/python bench/outputs.py              # 100,000 passages (a few minutes)
    .venv/bin/python bench/outputs.py --docs 20000

Ends with ``RESULT new_s=... replace_s=... same_s=... verify_s=... verify_mb_per_s=...
replace_overhead=...`` (replace_overhead: a build that replaces a release folder, over one into a
new folder, measured in the same run).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="passages in the release")
    parser.add_argument("--repeat", type=int, default=3, help="time each build this many times, keep the fastest")
    args = parser.parse_args()

    from audit import prepare  # bench/audit.py: the same passages and registry

    from corpus_registry.build.builder import build_release
    from corpus_registry.build.release import check_own_release
    from corpus_registry.build.spec import parse_spec
    from corpus_registry.registry.registry import Registry

    with tempfile.TemporaryDirectory(prefix="bench-outputs-") as tmp:
        work = Path(tmp)
        url, _, timings = prepare(work, args.docs, words=60)
        print(f"prepared {args.docs:,} passages: ingest {timings['ingest']:.1f} s", flush=True)
        reg = Registry(url)
        off = {"enabled": False}
        base = {"name": "bench-outputs", "select": {"license_tiers": ["public_domain", "attribution", "share_alike"]},
                "filters": {n: off for n in ("length", "symbol_ratio", "digit_ratio", "repetition", "ocr_noise")},
                "dedup": {"exact": False, "near": False}}

        def timed(version: str, out: Path) -> float:
            started = time.perf_counter()
            build_release(reg, parse_spec({**base, "version": version}), out_dir=out, progress=False, record=False)
            return time.perf_counter() - started

        new, same, replace = [], [], []
        for i in range(args.repeat):
            out = work / f"new-{i}"
            new.append(timed("1.0.0", out))
            same.append(timed("1.0.0", out))  # the same release: checked, then kept as it is
            replace.append(timed(f"1.0.{i + 1}", out))  # another version: the old one verified, replaced
        folder = work / "new-0"
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        started = time.perf_counter()
        check_own_release(folder)
        verify = time.perf_counter() - started
        reg.dispose()
    load = os.getloadavg()
    print(f"build into a new folder {min(new):.2f} s; the same release again {min(same):.2f} s (folder kept); "
          f"a new version replacing it {min(replace):.2f} s; verifying the {size / 1e6:.0f} MB folder alone "
          f"{verify:.2f} s ({size / 1e6 / verify:.0f} MB/s); load {load[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"RESULT new_s={min(new):.2f} replace_s={min(replace):.2f} same_s={min(same):.2f} verify_s={verify:.3f} "
          f"verify_mb_per_s={size / 1e6 / verify:.0f} replace_overhead={min(replace) / min(new):.3f} "
          f"release_mb={size / 1e6:.0f} load_1m={load[0]:.2f}")


if __name__ == "__main__":
    main()
