"""The content-addressed document store on fsspec filesystems."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from corpus_registry.build.builder import build_release
from corpus_registry.build.spec import parse_spec
from corpus_registry.registry import lookup
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from corpus_registry.registry.store import DocumentStore

from tests.conftest import DATA


def test_shards_are_content_addressed(tmp_path: Path) -> None:
    store = DocumentStore(str(tmp_path / "s"))
    items = [("b" * 64, "deux"), ("a" * 64, "un")]
    first = store.put(items)
    assert store.put(list(reversed(items))) == first  # same content, same shard, written once
    assert store.get("a" * 64, first) == "un"
    assert dict(store.get_many([("b" * 64, first)])) == {"b" * 64: "deux"}
    assert len(list((tmp_path / "s").rglob("*.parquet"))) == 1
    assert not list((tmp_path / "s").rglob("*.tmp"))


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_registry_on_an_fsspec_store(scheme: str, tmp_path: Path) -> None:
    url = f"memory://store-{uuid.uuid4().hex[:8]}" if scheme == "memory" else (tmp_path / "fs").as_uri()
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.init(store=url)
    assert reg.store.url == url
    cat = tmp_path / "sources.yaml"
    cat.write_text("sources:\n  - slug: udhr\n    name: UDHR\n    collection: OpenGovernment\n"
                   f"    license: public-domain\n    reader: {{allow_outside: true, kind: text, path: {DATA / 'nltk-udhr/udhr'}}}\n")
    sync_sources(reg, catalogue_path=cat)
    ingest(reg, progress=False)
    rec = lookup.show(reg, "udhr/fr_French_Francais-Latin1")
    assert "Déclaration universelle des droits de l'homme" in rec["text"]
    spec = parse_spec({"name": "udhr", "version": "1", "dedup": {"near": False}})
    result = build_release(reg, spec, out_dir=tmp_path / "out", progress=False)
    assert result.rows >= 35
    if scheme == "file":
        assert list((tmp_path / "fs" / "shards").rglob("*.parquet"))
