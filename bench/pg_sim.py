"""Simulation: the registry's hot queries on a PostgreSQL registry of 10M document rows.

Builds the real schema (the project's migrations) in a fresh PostgreSQL schema, loads ``--rows``
document rows (tiny texts: only metadata and a sha256, no store) with COPY, then times what a
build and ``stats`` ask of the database at that size, and prints each query's plan:

- candidate selection: the build's candidate query (read through a server-side cursor, as
  ``build/candidates.py`` does), and the same rows read as keyset pages per source
  (``source_id = ? AND is_current AND identifier > ? ORDER BY identifier LIMIT ?``), which a
  build in bounded memory reads a page at a time;
- fate writes: one ``release_documents`` row per candidate, through the build's path (psycopg
  executemany, 5,000 rows a call) for ``--executemany-rows`` rows and COPY for the rest;
- ``stats``: :func:`corpus_registry.registry.lookup.stats`, the real function.

Sizes (table + indexes) are measured so the database can be extrapolated to 500M documents
(``docs/scale.md``). The schema is dropped at the end unless ``--keep``.

    .venv/bin/python bench/pg_sim.py                    # 10M rows: ~10-20 minutes on 2 shared cores
    .venv/bin/python bench/pg_sim.py --rows 1000000     # a quick run

Ends with ``RESULT rows=... load_s=... candidates_rows_per_s=... keyset_rows_per_s=...
keyset_page_ms=... fates_executemany_rows_per_s=... fates_copy_rows_per_s=... stats_s=...
documents_bytes_per_row=... release_documents_bytes_per_row=... seq_scans_hot=...``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG = os.environ.get("CORPUS_REGISTRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
LANGS = ["fr", "en", "de", "es", "it", "nl", "pt", "pl", "sv", "la"]
TIERS = ["public-domain", "permissive", "copyleft"]
CHUNK = 500_000  # rows per COPY statement
PAGE = 50_000  # rows per keyset page and per cursor fetch (the build's batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="document rows")
    parser.add_argument("--sources", type=int, default=100, help="sources the rows are spread over")
    parser.add_argument("--executemany-rows", type=int, default=500_000,
                        help="fate rows written through the build's executemany path (the rest by COPY)")
    parser.add_argument("--pg", default=PG, help="PostgreSQL server URL (a schema is created in it)")
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    args = parser.parse_args()

    import psycopg

    from corpus_registry.registry import lookup
    from corpus_registry.registry.registry import Registry

    schema = "pgsim_" + uuid.uuid4().hex[:10]
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    url = args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
    url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    out: dict[str, float | int | str] = {"rows": args.rows}
    seq_hot: list[str] = []
    try:
        registry = Registry(url)
        with tempfile.TemporaryDirectory() as tmp:
            registry.init(store=str(Path(tmp) / "store"))
        with psycopg.connect(args.pg, options=f"-csearch_path={schema}") as conn:
            out["load_s"] = round(_load(conn, args.rows, args.sources), 1)
            print(f"loaded {args.rows:,} documents in {out['load_s']} s", flush=True)
            _candidates(conn, out, seq_hot)
            _fates(conn, out, seq_hot, args.rows, args.executemany_rows)
            _sizes(conn, out)
        started = time.perf_counter()
        data = lookup.stats(registry)
        out["stats_s"] = round(time.perf_counter() - started, 2)
        assert data["totals"]["documents"] > 0
        with psycopg.connect(args.pg, options=f"-csearch_path={schema}") as conn:
            _explain(conn, "stats: documents per source (the widest of its six queries)", _STATS_SQL, (), seq_hot=None)
        print(f"stats: {out['stats_s']} s", flush=True)
        registry.dispose()
    finally:
        if not args.keep:
            with psycopg.connect(args.pg, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
        else:
            print(f"schema kept: {schema}")
    out["seq_scans_hot"] = ",".join(seq_hot) or "none"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in out.items()))


def _load(conn, rows: int, sources: int) -> float:  # type: ignore[no-untyped-def]
    """Sources, blobs and documents by COPY (secondary indexes built after the load, as a bulk
    import would; the schema's own indexes end up all there)."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers during the bulk load
        src = io.StringIO()
        for s in range(1, sources + 1):
            src.write(f"{s}\tsrc-{s:04d}\tSource {s}\tOpenCulture\tpublic-domain\tpublic-domain\ttext\t{{}}\t{{}}\t"
                      "active\t2026-01-01\t2026-01-01\n")
        with cur.copy("COPY sources (id, slug, name, collection, license, license_tier, reader_kind, reader_options, "
                      "overrides, status, created_at, updated_at) FROM STDIN") as cp:
            cp.write(src.getvalue())
        constraint = [r[0] for r in cur.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'documents'::regclass AND contype = 'u'").fetchall()]
        found = cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'documents' AND schemaname = current_schema() "
            "AND indexname NOT LIKE '%%pkey'").fetchall()
        names = [n for n, _ in found if n not in constraint]
        indexes = [d for n, d in found if n not in constraint]
        for c in constraint:
            cur.execute(f"ALTER TABLE documents DROP CONSTRAINT {c}")
        for n in names:
            cur.execute(f"DROP INDEX IF EXISTS {n}")
        per_source = -(-rows // sources)
        for start in range(0, rows, CHUNK):
            stop = min(rows, start + CHUNK)
            blobs, docs = io.StringIO(), io.StringIO()
            for i in range(start, stop):
                sha = f"{i:016x}" * 4
                s = i // per_source + 1
                old = i % 20 == 19  # 5 % of rows are superseded versions
                lang = LANGS[i % 10]
                tier = TIERS[i % 3]
                status = "withdrawn" if i % 1000 == 999 else "active"
                blobs.write(f"{sha}\tshard-{i // 100_000:05d}\t200\n")
                docs.write(f"{i + 1}\t{s}\tdoc-{i:010d}\t{1 if old else 2}\t{'f' if old else 't'}\t{tier}\t{tier}\t"
                           f"Title {i}\t{lang}\t0.9\tf\t40\t200\t{sha}\t{{}}\t{status}\t2026-01-01\n")
            with cur.copy("COPY blobs (sha256, shard, byte_size) FROM STDIN") as cp:
                cp.write(blobs.getvalue())
            with cur.copy("COPY documents (id, source_id, identifier, version, is_current, license, license_tier, "
                          "title, language, language_score, mixed_language, word_count, byte_size, sha256, extra, "
                          "status, created_at) FROM STDIN") as cp:
                cp.write(docs.getvalue())
            conn.commit()
            print(f"  {stop:,} rows ({time.perf_counter() - started:.0f} s)", flush=True)
        for c in constraint:
            cur.execute(f"ALTER TABLE documents ADD CONSTRAINT {c} UNIQUE (source_id, identifier, version)")
        for ddl in indexes:
            cur.execute(ddl)
        cur.execute("SELECT setval(pg_get_serial_sequence('documents', 'id'), %s)", (rows,))
        cur.execute("SET session_replication_role = origin")
        conn.commit()
        cur.execute("ANALYZE")
        conn.commit()
    return time.perf_counter() - started


_CANDIDATES_SQL = """
SELECT d.id, d.source_id, s.slug, d.identifier, d.sha256, d.language, d.language_score, d.word_count, d.byte_size,
       d.declared_license, d.status, d.date, d.title, d.creator, d.url, s.collection
FROM documents d JOIN sources s ON s.id = d.source_id
WHERE d.is_current ORDER BY s.slug, d.identifier"""

_KEYSET_SQL = """
SELECT d.id, d.identifier, d.sha256, d.language, d.language_score, d.word_count, d.byte_size,
       d.declared_license, d.status, d.date, d.title, d.creator, d.url
FROM documents d
WHERE d.source_id = %s AND d.is_current AND d.identifier > %s ORDER BY d.identifier LIMIT %s"""

_STATS_SQL = """
SELECT s.slug, s.collection, s.license, s.license_tier, count(*), coalesce(sum(d.word_count), 0),
       coalesce(sum(d.byte_size), 0)
FROM documents d JOIN sources s ON s.id = d.source_id
WHERE d.is_current AND d.status = 'active'
GROUP BY s.slug, s.collection, s.license, s.license_tier ORDER BY s.slug"""


def _candidates(conn, out: dict, seq_hot: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The build's query streamed through a server-side cursor, then the same rows as keyset pages."""
    plan = _explain(conn, "candidates: the build's query today (one server-side cursor over the whole selection)",
                    _CANDIDATES_SQL, (), seq_hot=None, analyze=False)
    out["candidates_cursor_plan"] = "seq" if any("Seq Scan on documents" in x for x in plan) else "index"
    started = time.perf_counter()
    n = 0
    with conn.cursor(name="sim_candidates") as cur:
        cur.itersize = PAGE
        cur.execute(_CANDIDATES_SQL)
        while rows := cur.fetchmany(PAGE):
            n += len(rows)
    conn.commit()
    secs = time.perf_counter() - started
    out["candidates_s"] = round(secs, 1)
    out["candidates_rows_per_s"] = round(n / secs)
    print(f"candidates (one cursor): {n:,} rows in {secs:.1f} s", flush=True)

    sources = [r[0] for r in conn.execute("SELECT id FROM sources ORDER BY slug").fetchall()]
    _explain(conn, "candidates: one keyset page", _KEYSET_SQL, (sources[len(sources) // 2], "doc-", PAGE),
             seq_hot=seq_hot)
    started = time.perf_counter()
    pages: list[float] = []
    n = 0
    for sid in sources:
        last = ""
        while True:
            t = time.perf_counter()
            rows = conn.execute(_KEYSET_SQL, (sid, last, PAGE)).fetchall()
            pages.append(time.perf_counter() - t)
            n += len(rows)
            if len(rows) < PAGE:
                break
            last = rows[-1][1]
    conn.commit()
    secs = time.perf_counter() - started
    pages.sort()
    out["keyset_s"] = round(secs, 1)
    out["keyset_rows_per_s"] = round(n / secs)
    out["keyset_page_ms"] = round(1000 * pages[len(pages) // 2], 1)
    out["keyset_page_p95_ms"] = round(1000 * pages[int(len(pages) * 0.95)], 1)
    print(f"candidates (keyset pages of {PAGE:,}): {n:,} rows in {secs:.1f} s, median page "
          f"{out['keyset_page_ms']} ms", flush=True)


def _fates(conn, out: dict, seq_hot: list[str], rows: int, executemany_rows: int) -> None:  # type: ignore[no-untyped-def]
    """A release's fates: the build's executemany path for the first rows, COPY for the rest."""
    rid = conn.execute("INSERT INTO releases (name, version, spec, registry_state, counts, shards, executor, "
                       "created_at) VALUES ('sim', '1.0.0', '{}', 'x', '{}', '{}', 'local', now()) RETURNING id"
                       ).fetchone()[0]
    conn.commit()
    ids = np.arange(1, rows + 1, dtype=np.int64)
    ids = ids[(ids - 1) % 20 != 19].tolist()  # the current versions (as loaded by _load)
    first = ids[:executemany_rows]
    sql = ("INSERT INTO release_documents (release_id, document_id, status, stage, reason, duplicate_of, "
           "similarity) VALUES (%s, %s, %s, %s, %s, %s, %s)")
    _explain(conn, "fates: one row written (the build's INSERT)", sql,
             (rid, ids[-1], "kept", None, None, None, None), seq_hot=seq_hot, rollback=True)

    def fate(i: int, doc: int) -> tuple:
        if i % 10 == 9:
            return (rid, doc, "dropped", "near_dedup", "near duplicate", ids[i - 1], 0.85)
        return (rid, doc, "kept", None, None, None, None)

    started = time.perf_counter()
    with conn.cursor() as cur:
        for start in range(0, len(first), 5000):
            cur.executemany(sql, [fate(i, first[i]) for i in range(start, min(len(first), start + 5000))])
    conn.commit()
    secs = time.perf_counter() - started
    out["fates_executemany_rows_per_s"] = round(len(first) / secs) if first else 0
    print(f"fates (executemany, the build's path): {len(first):,} rows in {secs:.1f} s", flush=True)
    started = time.perf_counter()
    rest = len(ids) - len(first)
    with conn.cursor() as cur, cur.copy("COPY release_documents (release_id, document_id, status, stage, reason, "
                                        "duplicate_of, similarity) FROM STDIN") as cp:
        for start in range(len(first), len(ids), CHUNK):
            cp.write("".join("\t".join(r"\N" if v is None else str(v) for v in fate(i, ids[i])) + "\n"
                             for i in range(start, min(len(ids), start + CHUNK))))
    conn.commit()
    secs = time.perf_counter() - started
    out["fates_copy_rows_per_s"] = round(rest / secs) if rest else 0
    print(f"fates (COPY): {rest:,} rows in {secs:.1f} s", flush=True)
    conn.execute("ANALYZE release_documents")
    conn.commit()
    _explain(conn, "fates: a release's kept documents, one page (release page, `releases show`)",
             "SELECT d.identifier, rd.status FROM release_documents rd JOIN documents d ON d.id = rd.document_id "
             "WHERE rd.release_id = %s AND rd.status = 'kept' ORDER BY rd.document_id LIMIT 100",
             (rid,), seq_hot=seq_hot)


def _sizes(conn, out: dict) -> None:  # type: ignore[no-untyped-def]
    for table in ("documents", "blobs", "release_documents"):
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        total = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0]
        heap = conn.execute("SELECT pg_relation_size(%s)", (table,)).fetchone()[0]
        out[f"{table}_bytes_per_row"] = round(total / max(rows, 1))
        print(f"{table}: {rows:,} rows, {total / 1e9:.2f} GB with indexes ({heap / 1e9:.2f} GB heap), "
              f"{total / max(rows, 1):.0f} bytes per row", flush=True)
    conn.commit()


def _explain(conn, title: str, sql: str, params: tuple, *, seq_hot: list[str] | None,  # type: ignore[no-untyped-def]
             analyze: bool = True, rollback: bool = False) -> list[str]:
    """Print the plan (with ANALYZE: actual times); a sequential scan on a hot path is recorded."""
    verb = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)" if analyze else "EXPLAIN (COSTS OFF)"
    lines = [r[0] for r in conn.execute(f"{verb} {sql}", params).fetchall()]
    if rollback:
        conn.rollback()
    else:
        conn.commit()
    print(f"\n-- {title}")
    for line in lines:
        print("   " + line)
    print(flush=True)
    if seq_hot is not None and any("Seq Scan on documents" in x or "Seq Scan on release_documents" in x
                                   for x in lines):
        seq_hot.append(title.split(":")[0])
    return lines


if __name__ == "__main__":
    main()
