"""dolma in and out: a Common Pile–style source (gzipped JSON lines, licence and provenance nested in
``metadata``) is ingested by the ``dolma`` reader, built with ``--format dolma``, and the dolma copy
read back into a fresh registry gives the same documents and the same files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from corpus_registry.audit.auditor import audit
from corpus_registry.build.builder import build_release
from corpus_registry.build.release import read_manifest
from corpus_registry.build.spec import parse_spec, with_formats
from corpus_registry.cli import cli
from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry.db.models import Document
from corpus_registry.registry.documents import normalize_text, text_sha256
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.readers import decode_bytes, get_reader
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.conftest import DATA

UDHR = DATA / "nltk-udhr" / "udhr"
CC_BY = "Creative Commons - Attribution - https://creativecommons.org/licenses/by/4.0/"
# Real texts (the UDHR in three languages), labelled as the Common Pile labels its documents.
DOCUMENTS = [
    ("udhr-en", "en_English-Latin1.txt", {"license": "Public Domain", "title": "Universal Declaration",
                                                     "author": "United Nations", "url": "https://www.un.org/en/udhr"},
     "1948-12-10"),
    ("udhr-fr", "fr_French_Francais-Latin1.txt", {"license": CC_BY, "title": "Déclaration *universelle*",
                                                             "url": "https://www.un.org/fr/udhr"}, "1948"),
    ("udhr-de", "de_German_Deutsch-Latin1.txt", {"license": "Public Domain"}, None),
]


def common_pile_source(folder: Path) -> list[dict]:
    records = []
    for ident, name, metadata, created in DOCUMENTS:
        text, _ = decode_bytes((UDHR / name).read_bytes(), path=name, encoding="auto")  # as the text reader would
        record = {"id": ident, "text": text, "source": "udhr-slice",
                  "added": "2024-09-19T16:18:12.117604", "metadata": metadata}
        if created:
            record["created"] = created
        records.append(record)
    (folder / "documents").mkdir(parents=True)
    with gzip.open(folder / "documents" / "udhr-0000.json.gz", "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return records


CATALOGUE = """
sources:
  - slug: udhr-slice
    name: UDHR, Common Pile style
    collection: OpenGovernment
    license: CC-PDM-1.0
    attribution: United Nations
    retrieved: 2024-09-19
    reader:
      kind: dolma
      path: {path}
      allow_outside: true
      license_map:
        "{cc_by}": CC-BY-4.0
"""
SPEC = {"name": "dolma-trip", "version": "1", "select": {"sources": ["udhr-slice"],
                                                          "license_tiers": ["public_domain", "attribution"]},
        "output": {"formats": ["dolma"]}}


def _registry_docs(reg: Registry) -> dict[str, tuple]:
    with reg.session() as s:
        return {d.identifier: (d.sha256, d.license, d.title, d.creator, d.url, d.date, d.extra.get("source"))
                for d in s.scalars(select(Document).where(Document.is_current.is_(True)))}


def _dolma_records(folder: Path) -> list[dict]:
    out = []
    for path in sorted((folder / "dolma" / "documents").rglob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            out += [json.loads(line) for line in f]
    return out


def test_common_pile_source_round_trips_through_dolma(registry: Registry, make_db_url, tmp_path: Path) -> None:
    records = common_pile_source(tmp_path / "cp")
    (tmp_path / "sources.yaml").write_text(CATALOGUE.format(path=tmp_path / "cp", cc_by=CC_BY), encoding="utf-8")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    ingest(registry, progress=False)
    first = _registry_docs(registry)
    assert first["udhr-en"][1:] == ("CC-PDM-1.0", "Universal Declaration", "United Nations",
                                    "https://www.un.org/en/udhr", "1948-12-10", "udhr-slice")
    assert first["udhr-fr"][1] == "CC-BY-4.0" and first["udhr-fr"][5] == "1948"  # nested licence, mapped
    assert first["udhr-de"][1:4] == ("CC-PDM-1.0", None, None)

    out = tmp_path / "out"
    result = build_release(registry, parse_spec(SPEC), out_dir=out, progress=False)
    manifest = read_manifest(out)
    copies = [p for p in manifest["files"] if p.startswith("dolma/documents/")]
    assert copies == ["dolma/documents/de/train-00000-of-00001.json.gz",
                      "dolma/documents/en/train-00000-of-00001.json.gz",
                      "dolma/documents/fr/train-00000-of-00001.json.gz"]
    assert all(p in result.files for p in copies)
    written = {d["id"]: d for d in _dolma_records(out)}
    for r in records:
        d = written[r["id"]]
        assert d["text"] == normalize_text(r["text"]) and d["source"] == "udhr-slice"
        assert d["added"] == "2024-09-19" and d.get("created") == r.get("created")
        assert d["metadata"]["sha256"] == text_sha256(d["text"])
        for key in ("title", "author", "url"):
            assert d["metadata"].get(key) == r["metadata"].get(key)
    assert written["udhr-fr"]["metadata"]["license"] == "CC-BY-4.0"
    shards = {r["identifier"]: r for p in manifest["shards"] for r in pq.read_table(out / p).to_pylist()}
    assert {i: (d["text"], d["metadata"]["license"], d["metadata"]["language"]) for i, d in written.items()} == {
        i: (r["text"], r["license"], r["language"]) for i, r in shards.items()}
    assert audit(registry, out, progress=False).problem_counts == {}

    # the dolma copy is a source like any other: a fresh registry reading it holds the same documents
    again = Registry(make_db_url("sqlite"))
    try:
        again.init(store=str(tmp_path / "store-again"))
        (tmp_path / "again.yaml").write_text(
            CATALOGUE.format(path=out / "dolma", cc_by=CC_BY), encoding="utf-8")
        sync_sources(again, catalogue_path=tmp_path / "again.yaml")
        ingest(again, progress=False)
        assert _registry_docs(again) == first
        rebuilt = build_release(again, parse_spec(SPEC), out_dir=tmp_path / "again-out", progress=False)
    finally:
        again.dispose()
    same = {p: sha for p, sha in rebuilt.files.items() if p.startswith(("data/", "dolma/"))}
    assert same == {p: sha for p, sha in result.files.items() if p.startswith(("data/", "dolma/"))}


def test_build_format_option(registry: Registry, tmp_path: Path) -> None:
    common_pile_source(tmp_path / "cp")
    (tmp_path / "sources.yaml").write_text(CATALOGUE.format(path=tmp_path / "cp", cc_by=CC_BY), encoding="utf-8")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    ingest(registry, progress=False)
    spec = {**SPEC, "output": {}}
    (tmp_path / "spec.yaml").write_text(json.dumps(spec), encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(cli, ["--db", registry.url, "build", str(tmp_path / "spec.yaml"), "--out",
                            str(tmp_path / "plain"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "plain" / "dolma").exists()
    r = runner.invoke(cli, ["--db", registry.url, "build", str(tmp_path / "spec.yaml"), "--out",
                            str(tmp_path / "both"), "--format", "dolma", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert read_manifest(tmp_path / "both")["spec"]["output"]["formats"] == ["parquet", "dolma"]
    assert len(_dolma_records(tmp_path / "both")) == 3
    r = runner.invoke(cli, ["--db", registry.url, "build", str(tmp_path / "spec.yaml"), "--out",
                            str(tmp_path / "x"), "--format", "arrow"])
    assert r.exit_code == 2 and "'arrow' is not one of" in r.output
    assert with_formats(parse_spec(SPEC), ["dolma", "parquet", "dolma"]).output.formats == ["parquet", "dolma"]


def test_dolma_reader_fields_and_errors(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    lines = [{"id": "a", "text": "Un texte.", "metadata": {"license": "CC0-1.0", "url": "https://x.org/a",
                                                             "nested": {"deep": 1}}},
             {"id": "b", "text": "Deux.", "metadata.license": "MIT"},  # a key holding a dot is found first
             {"id": "c", "text": "Trois."}]
    (folder / "part.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    reader = get_reader("dolma", base_dir=tmp_path, options={"path": "d", "extra_fields": ["metadata.nested.deep"]})
    with pytest.raises(ReaderError, match=r"part.jsonl:3: no licence in field 'metadata.license'"):
        list(reader.read())  # dolma keeps a licence per record: one without is an error, not a fallback
    reader = get_reader("dolma", base_dir=tmp_path, options={"path": "d", "extra_fields": ["metadata.nested.deep"],
                                                             "license_field": None})  # the source's licence
    docs = list(reader.read())
    assert [(d.identifier, d.license, d.url) for d in docs] == [("a", None, "https://x.org/a"), ("b", None, None),
                                                                 ("c", None, None)]
    reader = get_reader("dolma", base_dir=tmp_path, options={"path": "d", "extra_fields": ["metadata.nested.deep"]})
    lines.pop()
    (folder / "part.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    docs = list(reader.read())
    assert [(d.identifier, d.license, d.url) for d in docs] == [("a", "CC0-1.0", "https://x.org/a"), ("b", "MIT", None)]
    assert docs[0].extra["metadata.nested.deep"] == 1
    with pytest.raises(ConfigError, match=r"license_map.*bogus"):
        get_reader("dolma", base_dir=tmp_path, options={"path": "d", "license_map": {"x": "bogus-licence-9"}})
