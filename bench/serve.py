"""The web registry under load: a million documents, 20 concurrent clients, 60 seconds, loopback only.

1. Makes (or reuses, ``--keep``) a registry of ``--docs`` documents with the project's schema:
   rows are generated cheaply (tiny fake blobs, bulk inserts through the driver; the search index
   is filled by the schema's own triggers/index), with 20 sources, real words in titles and
   creators, identifiers with ``/``, a few documents under review or withdrawn, and one built
   release holding a fate for every document.
2. Starts ``corpus-registry serve`` on 127.0.0.1 (``--workers`` processes).
3. Runs ``--clients`` clients, each with one keep-alive connection, for ``--seconds`` (after a
   short warm-up): every request is a random page of the kinds a person browses — document lists
   (the whole registry, by language, by licence tier, by source, a later page), a source page, the
   sources page with its facets, a release's fates by stage, a search for one or two real words,
   a document page.
4. Prints p50/p95/p99 per kind, then ``RESULT p95_ms=… rps=… errors=…``.

    python bench/serve.py                      # 1,000,000 documents (~3-6 min to make, kept in --dir)
    python bench/serve.py --docs 100000 --seconds 20
    python bench/serve.py --db postgresql://postgres@127.0.0.1:5432/test   # the same on PostgreSQL

The load generator shares the machine with the server: on a 2-core machine, the numbers are
indicative (the script prints the load average before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode

REPO = Path(__file__).resolve().parent.parent
LANGUAGES = ["fr"] * 40 + ["en"] * 30 + ["de"] * 10 + ["es"] * 8 + ["it"] * 6 + ["pt"] * 4 + ["nl", "sv"]
TIERS = ([("CC-PDM-1.0", "public_domain")] * 60 + [("CC-BY-4.0", "attribution")] * 25
         + [("etalab-2.0", "attribution")] * 8 + [("CC-BY-SA-4.0", "share_alike")] * 5)
COLLECTIONS = ["OpenCulture", "OpenGovernment", "OpenScience", "OpenWeb", "OpenSource", "OpenSemantic"]
RELEASE = ("bench-release", "1.0.0")


def vocabulary() -> list[str]:
    words: dict[str, None] = {}
    for name in ("fr_French_Francais-Latin1.txt", "en_English-Latin1.txt", "de_German_Deutsch-Latin1.txt"):
        text = (REPO / "data/nltk-udhr/udhr" / name).read_bytes().decode("latin-1")
        for w in re.findall(r"[^\W\d_]{4,}", text):
            words.setdefault(w.lower(), None)
    return list(words)


def make_registry(url: str, store: str, n: int) -> None:
    """Bulk-generate ``n`` documents (and their fates in one release) into an initialised registry."""
    from sqlalchemy import text

    from corpus_registry.registry.db.models import Release, Source
    from corpus_registry.registry.registry import Registry

    rng = random.Random(15)
    vocab = vocabulary()
    creators = [f"{rng.choice(vocab).title()}, {rng.choice(vocab).title()}" for _ in range(5000)]
    reg = Registry(url)
    reg.init(store=store)
    with reg.session() as s:
        for i in range(20):
            lic, tier = TIERS[i * 5 % len(TIERS)]
            s.add(Source(slug=f"source-{i:02d}", name=f"Bench source {i}", collection=COLLECTIONS[i % 6],
                         license=lic, license_tier=tier, reader_kind="jsonl", reader_options={},
                         overrides={}, status="active"))
        s.add(Release(name=RELEASE[0], version=RELEASE[1], spec={}, registry_state="bench",
                      counts={"candidates": n, "kept": 0, "kept_words": 0, "funnel": []}, shards={}))
    with reg.engine.begin() as conn:
        source_ids = [r[0] for r in conn.execute(text("SELECT id FROM sources ORDER BY slug"))]
        release_id = conn.execute(text("SELECT id FROM releases")).scalar()
    mark = "?" if reg.dialect == "sqlite" else "%s"
    doc_cols = ("id", "source_id", "identifier", "version", "is_current", "license", "license_tier", "review", "url",
                "path", "title", "creator", "date", "language", "language_score", "mixed_language", "word_count",
                "byte_size", "sha256", "extra", "status", "created_at")
    insert_doc = f"INSERT INTO documents ({', '.join(doc_cols)}) VALUES ({', '.join([mark] * len(doc_cols))})"
    insert_blob = f"INSERT INTO blobs (sha256, shard, byte_size) VALUES ({mark}, {mark}, {mark})"
    insert_fate = (f"INSERT INTO release_documents (release_id, document_id, status, stage, reason, duplicate_of,"
                   f" similarity) VALUES ({', '.join([mark] * 7)})")
    started = time.perf_counter()
    batch = 20_000
    stages = [("kept", None, None)] * 80 + [("dropped", "filter:length", "too_few_words")] * 12 + \
        [("dropped", "language", "language:xx")] * 5 + [("dropped", "near_dedup", "near duplicate")] * 3
    for start in range(1, n + 1, batch):
        docs, blobs, fates = [], [], []
        for i in range(start, min(start + batch, n + 1)):
            sha = hashlib.sha256(str(i).encode()).hexdigest()
            lic, tier = rng.choice(TIERS)
            review = None
            if i % 97 == 0:
                tier, review = "review", "licence not established"
            status = "withdrawn" if i % 499 == 0 else "active"
            src = source_ids[i % 20]
            title = " ".join(rng.choice(vocab) for _ in range(rng.randint(2, 6))).capitalize()
            docs.append((i, src, f"batch-{i // 1000:04d}/doc-{i:07d}", 1, True, lic, tier, review,
                         f"https://example.org/{i}", None, title, rng.choice(creators), "1900-01-01",
                         rng.choice(LANGUAGES), 0.99, False, rng.randint(50, 5000), 1000, sha, "{}", status,
                         "2026-01-01 00:00:00"))
            blobs.append((sha, "bench", 1000))
            st, stage, reason = rng.choice(stages)
            dup = i - 1 if stage == "near_dedup" and i > 1 else None
            fates.append((release_id, i, st, stage, reason, dup, 0.9 if dup else None))
        with reg.engine.begin() as conn:
            conn.exec_driver_sql(insert_blob, blobs)
            conn.exec_driver_sql(insert_doc, docs)
            conn.exec_driver_sql(insert_fate, fates)
        done = min(start + batch - 1, n)
        print(f"\r  generated {done:,} / {n:,} documents ({time.perf_counter() - started:.0f} s)", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with reg.engine.begin() as conn:
        if reg.dialect == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    reg.dispose()


class Pages:
    """Random pages, as a person browsing would ask for them."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.vocab = vocabulary()

    def identifier(self, i: int) -> str:
        return f"batch-{i // 1000:04d}/doc-{i:07d}"

    def next(self) -> tuple[str, str]:
        r, rng = self.rng.random(), self.rng
        i = rng.randint(1, self.n)
        if r < 0.30:
            return "document", f"/documents/source-{i % 20:02d}/{quote(self.identifier(i))}"
        if r < 0.55:
            words = " ".join(rng.choice(self.vocab) for _ in range(rng.choice((1, 1, 2))))
            return "search", "/search?" + urlencode({"q": words})
        if r < 0.65:
            return "list", "/documents?" + urlencode({"after": i})
        if r < 0.72:
            return "list", "/documents?" + urlencode({"language": rng.choice(LANGUAGES), "after": i})
        if r < 0.77:
            return "list", "/documents?" + urlencode({"license_tier": rng.choice(["review", "share_alike"]),
                                                       "after": i})
        if r < 0.84:
            return "list", "/documents?" + urlencode({"source": f"source-{i % 20:02d}",
                                                       "after": self.identifier(i)})
        if r < 0.90:
            return "list", f"/sources/source-{i % 20:02d}"
        if r < 0.94:
            return "list", "/sources?" + urlencode({"language": rng.choice(LANGUAGES)})
        return "list", f"/releases/{RELEASE[0]}/{RELEASE[1]}?" + urlencode(
            {"stage": rng.choice(["filter:length", "near_dedup", "language"]), "after": i})


async def fetch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if length is None:
        raise RuntimeError(f"no content-length for {path}")
    await reader.readexactly(int(length[1]))
    return status


async def client(port: int, pages: Pages, start_at: float, stop_at: float,
                 results: list[tuple[str, float, int, str, float]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            kind, path = pages.next()
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                status = await asyncio.wait_for(fetch(reader, writer, path), timeout=30)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, RuntimeError):
                status = 0
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if t0 >= start_at:
                results.append((kind, (time.perf_counter() - t0) * 1000, status, path, t0 - start_at))
    finally:
        writer.close()


async def load(port: int, n: int, clients: int, warmup: float, seconds: float
               ) -> list[tuple[str, float, int, str, float]]:
    results: list[tuple[str, float, int, str, float]] = []
    now = time.perf_counter()
    await asyncio.gather(*(client(port, Pages(n, seed), now + warmup, now + warmup + seconds, results)
                           for seed in range(clients)))
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the server did not start in time")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000, help="documents in the registry (default 1,000,000)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument("--seconds", type=float, default=60, help="measured seconds (default 60)")
    ap.add_argument("--warmup", type=float, default=5, help="unmeasured seconds first (default 5)")
    ap.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    ap.add_argument("--db", help="a postgresql:// URL (an empty database or schema) instead of a SQLite file")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/corpus-registry-bench-serve"),
                    help="where the SQLite registry is made and kept between runs")
    ap.add_argument("--keep", action="store_true", help="reuse the registry in --dir if it has --docs documents")
    args = ap.parse_args()
    if not 1 <= args.seconds <= 600:
        raise SystemExit("--seconds: between 1 and 600 (the run is bounded)")

    args.dir.mkdir(parents=True, exist_ok=True)
    url = args.db or f"sqlite:///{args.dir / f'registry-{args.docs}.db'}"
    marker = args.dir / f"ready-{args.docs}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"
    if not (args.keep and marker.exists()):
        if not args.db:
            for suffix in ("", "-wal", "-shm"):
                Path(str(args.dir / f"registry-{args.docs}.db") + suffix).unlink(missing_ok=True)
        t0 = time.perf_counter()
        make_registry(url, str(args.dir / "store"), args.docs)
        marker.touch()
        print(f"made a registry of {args.docs:,} documents in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    port = free_port()
    load_before = os.getloadavg()
    env = {**os.environ, "CORPUS_REGISTRY_DB": url}
    command = Path(sys.executable).parent / "corpus-registry"
    server = subprocess.Popen([str(command), "serve", "--port", str(port),
                               "--workers", str(args.workers)], env=env, cwd=str(args.dir),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(port, server)
        time.sleep(2)  # every worker up
        results = asyncio.run(load(port, args.docs, args.clients, args.warmup, args.seconds))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    load_after = os.getloadavg()
    lat = [r[1] for r in results]
    errors = sum(1 for r in results if r[2] != 200)
    print(f"{args.docs:,} documents, {args.clients} clients, {args.seconds:.0f} s, {args.workers} server workers, "
          f"{'PostgreSQL' if args.db else 'SQLite'}; {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    for kind in ("list", "search", "document"):
        ms = [r[1] for r in results if r[0] == kind]
        print(f"  {kind:<9} {len(ms):>7,} requests  p50 {pct(ms, 50):6.1f} ms  p95 {pct(ms, 95):6.1f} ms  "
              f"p99 {pct(ms, 99):6.1f} ms  max {max(ms, default=0):7.1f} ms")
    print(f"  all       {len(lat):>7,} requests  mean {statistics.fmean(lat) if lat else 0:.1f} ms")
    for kind, ms, status, path, at in sorted(results, key=lambda r: -r[1])[:3]:
        print(f"  slowest: {ms:8.1f} ms at {at:5.1f} s  {status} {path}")
    kinds = " ".join(f"p95_{k}_ms={pct([r[1] for r in results if r[0] == k], 95):.1f}"
                     for k in ("list", "search", "document"))
    print(f"RESULT p95_ms={pct(lat, 95):.1f} rps={len(lat) / args.seconds:.0f} errors={errors} {kinds} "
          f"docs={args.docs} clients={args.clients} workers={args.workers}")


if __name__ == "__main__":
    main()
