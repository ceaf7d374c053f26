"""Peak memory of ingesting one very long single-line text file (issue 12, item 18).

A ~105 MB text file without a newline (the bundled French Gutenberg novels, their lines joined by
spaces, repeated) is ingested by ``corpus-registry ingest --workers 1`` in a fresh process; the
peak RSS of that process is read from ``resource.getrusage(RUSAGE_CHILDREN)``. Before the fix it
peaked at 1.73 GB (about 16 bytes of memory per byte of text).

    python bench/long_line.py            # 105 MB
    python bench/long_line.py --mb 20    # smaller
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"


def write_long_line(path: Path, megabytes: int) -> int:
    """Write real French prose as one line of about ``megabytes`` MB; its size in bytes."""
    chunks = []
    for book in sorted((DATA / "gutenberg-fr").glob("*/*-0.txt")) or sorted((DATA / "gutenberg-fr").glob("*/*.txt")):
        raw = book.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        chunks.append(" ".join(text.split()))
    unit = (" ".join(chunks) + " ").encode("utf-8")
    target = megabytes * 1_000_000
    with path.open("wb") as f:
        written = 0
        while written < target:
            piece = unit[: target - written]
            while piece and (piece[-1] & 0xC0) == 0x80:  # do not cut a character in two
                piece = piece[:-1]
            if piece and piece[-1] >= 0xC0:
                piece = piece[:-1]
            f.write(piece)
            written += len(piece)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=105)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="long-line-") as tmp:
        work = Path(tmp)
        (work / "texts").mkdir()
        size = write_long_line(work / "texts" / "long.txt", args.mb)
        (work / "sources.yaml").write_text(
            "sources:\n  - slug: long\n    name: One long line\n    collection: OpenCulture\n"
            "    license: public-domain\n    reader: {kind: text, path: texts}\n", encoding="utf-8")
        db = f"sqlite:///{work / 'registry.db'}"
        cli = [sys.executable, "-m", "corpus_registry.cli", "--db", db]
        env = {**os.environ, "TQDM_DISABLE": "1"}
        subprocess.run([*cli, "init"], check=True, capture_output=True, env=env)
        subprocess.run([*cli, "sources", "sync", str(work / "sources.yaml")], check=True,
                       capture_output=True, env=env)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run([*cli, "ingest", "--no-progress", "--workers", "1", "long"], capture_output=True,
                              text=True, env=env)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"ingest failed: {done.stderr.strip()}")
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if peak_kb <= before:
            print("warning: an earlier child peaked higher; the figure below is that one's", file=sys.stderr)
        print(done.stdout.strip())
        print(f"RESULT file_mb={size / 1e6:.1f} peak_rss_mb={peak_kb / 1024:.0f} "
              f"rss_per_text_byte={peak_kb * 1024 / size:.2f} seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
