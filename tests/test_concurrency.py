"""A shared PostgreSQL registry under concurrent use, by separate processes against the real server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from corpus_registry.registry.db.models import Blob, Document, Source
from corpus_registry.registry.documents import normalize_text
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.conftest import DATA


def passages(path: Path, encoding: str, n: int, prefix: str) -> list[dict[str, str]]:
    words = path.read_text(encoding=encoding).split()
    size = 120
    out = []
    for i in range(n):
        start = (i * 37) % max(1, len(words) - size)
        out.append({"id": f"{prefix}-{i:05d}", "text": f"{prefix} {i}. " + " ".join(words[start:start + size])})
    return out


def test_two_ingests_and_a_build_at_the_same_time(make_db_url, tmp_path: Path) -> None:
    url = make_db_url("postgresql")
    reg = Registry(url)
    reg.init(store=str(tmp_path / "store"))
    sources = {
        "germinal": passages(DATA / "gutenberg-fr/pg5711-germinal/5711-8.txt", "latin-1", 3000, "germinal"),
        "candide": passages(DATA / "gutenberg-fr/pg4650-candide/4650-8.txt", "latin-1", 3000, "candide"),
        "miserables": passages(DATA / "gutenberg-fr/pg17489-les-miserables-tome-1-fantine/17489-8.txt",
                               "latin-1", 1500, "miserables"),
    }
    lines = ["sources:"]
    for slug, records in sources.items():
        (tmp_path / f"{slug}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records),
                                                encoding="utf-8")
        lines += [f"  - slug: {slug}", f"    name: {slug}", "    collection: OpenCulture",
                  "    license: public-domain", f"    reader: {{kind: jsonl, path: {slug}.jsonl}}"]
    (tmp_path / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sync_sources(reg, catalogue_path=tmp_path / "sources.yaml")
    ingest(reg, ["miserables"], progress=False)  # what the concurrent build reads
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: concurrent\nversion: 1.0.0\nselect: {sources: [miserables]}\n"
                    "dedup: {near: false}\nfilters: {repetition: {enabled: false}}\n", encoding="utf-8")

    env = {**os.environ, "CORPUS_REGISTRY_BATCH_DOCS": "100"}
    cli = [sys.executable, "-m", "corpus_registry.cli", "--db", url]
    procs = [
        subprocess.Popen([*cli, "ingest", "--no-progress", "--workers", "1", "germinal"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([*cli, "ingest", "--no-progress", "--workers", "1", "candide"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([*cli, "build", str(spec), "--out", str(tmp_path / "out"), "--no-progress",
                          "--workers", "1", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True),
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-2000:]
    built = json.loads(outputs[2][0])
    assert built["rows"] > 1000

    with reg.session() as s:
        per_source = {slug: n for slug, n in s.execute(
            select(Source.slug, func.count()).join(Document, Document.source_id == Source.id).group_by(Source.slug))}
        versions = s.scalar(select(func.max(Document.version)))
        distinct = s.scalar(select(func.count(func.distinct(Document.identifier))))
        docs = s.execute(select(Document.identifier, Document.sha256, Blob.shard)
                         .join(Blob, Blob.sha256 == Document.sha256)).all()
    assert per_source == {"germinal": 3000, "candide": 3000, "miserables": 1500}
    assert versions == 1 and distinct == 7500  # nothing lost, nothing duplicated
    expected = {r["id"]: r["text"] for records in sources.values() for r in records}
    store = reg.store
    for ident, sha, shard in docs:  # nothing half-written: every row's text is stored and intact
        text = store.get(sha, shard)
        assert hashlib.sha256(text.encode()).hexdigest() == sha
        assert text == normalize_text(expected[ident])
