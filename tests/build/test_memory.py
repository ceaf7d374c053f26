"""A build within a memory budget writes the same bytes as the in-memory build.

The budgets here are tiny on purpose: near dedup's band buckets are cut into many partition files
and its signatures read back in many blocks, so every spilled path runs, on the bundled sample
and on a generated corpus of thousands of documents with exact and near duplicates, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.dedup import NearDedup
from corpus_registry.build.dedup.lsh import band_hashes, row_multipliers
from corpus_registry.build.dedup.spill import SpilledNearDedup
from corpus_registry.build.memory import parse_memory
from corpus_registry.build.spec import load_spec, parse_spec
from corpus_registry.cli import cli
from corpus_registry.errors import ConfigError
from corpus_registry.executors import LocalExecutor
from corpus_registry.registry.db.models import Document, ReleaseDocument, Source
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from tests.build.test_dedup import _corpus_with_duplicates
from tests.conftest import REPO

SPECS = {"fr": REPO / "specs" / "fr.yaml", "all": REPO / "specs" / "all.yaml"}


def _scale_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_scale", REPO / "bench" / "scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def same_bytes(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert not any(".near-dedup-spill" in f for f in files_a)
    for name in files_a:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def recorded_fates(reg: Registry, result: BuildResult) -> list[tuple]:
    with reg.session() as s:
        return [tuple(r) for r in s.execute(
            select(Source.slug, Document.identifier, ReleaseDocument.status, ReleaseDocument.stage,
                   ReleaseDocument.reason, ReleaseDocument.duplicate_of, ReleaseDocument.similarity)
            .join(Document, Document.id == ReleaseDocument.document_id)
            .join(Source, Source.id == Document.source_id)
            .where(ReleaseDocument.release_id == result.release_id)
            .order_by(Source.slug, Document.identifier)).all()]


# --- the budget itself ---

@pytest.mark.parametrize(("text", "size"), [("1GB", 10**9), ("512MB", 512 * 10**6), ("2GiB", 2 << 30),
                                            ("1.5gb", 1_500_000_000), ("3000000", 3_000_000), (" 64 MiB ", 64 << 20)])
def test_sizes_parse(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "GB", "1 parsec", "-1GB", "1e9", "1,5GB", "10KB", "0"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_memory(text)
    assert "--memory" in str(e.value) and e.value.hint


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["MB", "MiB", "GB", "GiB"]))
def test_any_whole_size_round_trips(n: int, unit: str) -> None:
    factor = {"MB": 10**6, "MiB": 1 << 20, "GB": 10**9, "GiB": 1 << 30}[unit]
    assert parse_memory(f"{n}{unit}") == n * factor


def test_cli_refuses_a_bad_budget_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "r.db"), "build", str(SPECS["fr"]),
                                      "--out", str(tmp_path / "out"), "--memory", "lots"])
    assert result.exit_code == 2
    assert "--memory 'lots' is not a size" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


# --- near dedup out of core ---

@pytest.mark.parametrize("memory", [1, 4096, 1 << 16, 1 << 30])
def test_spilled_near_dedup_finds_the_same_clusters(tmp_path: Path, memory: int) -> None:
    docs, _ = _corpus_with_duplicates(seed=3)
    random.Random(1).shuffle(docs)
    near = NearDedup(batch_size=64)
    best_first = sorted(range(len(docs)), key=lambda i: (docs[i].date is None, docs[i].date or "",
                                                         -docs[i].word_count, docs[i].key))
    ranks = np.empty(len(docs), dtype=np.int64)  # integer positions by the keep rule, as a build gives
    ranks[best_first] = np.arange(len(docs))
    spilled = SpilledNearDedup(folder=tmp_path / "spill", memory=memory)
    # as a build's signing workers send them: band bucket ids computed there, signatures' low 16 bits
    from_workers = SpilledNearDedup(folder=tmp_path / "spill-2", memory=memory)
    multipliers = row_multipliers(from_workers.rows, 1)
    for start in range(0, len(docs), 37):  # batches as the workers return them
        batch = docs[start:start + 37]
        signatures = near.hasher.signatures([d.text for d in batch])
        near.add_signatures(keys=[d.key for d in batch], signatures=signatures,
                            ranks=ranks[start:start + 37].tolist())
        spilled.add_signatures(signatures, ranks[start:start + 37])
        hashes = band_hashes(signatures, bands=from_workers.bands, rows=from_workers.rows, multipliers=multipliers)
        from_workers.add_signatures(signatures.astype(np.uint16), ranks[start:start + 37], hashes)
    expected = near.finalize()
    keys = near.index.keys
    assert len(expected.duplicate_of) >= 45
    for dedup, folder in ((spilled, "spill"), (from_workers, "spill-2")):
        found = dedup.finalize()
        dedup.close()
        assert not (tmp_path / folder).exists()
        assert {keys[d]: (keys[k], s) for d, k, s in zip(found.dropped.tolist(), found.kept.tolist(),
                                                         found.similarity)} \
            == {key: (d.kept_key, d.similarity) for key, d in expected.duplicate_of.items()}


def test_band_hashes_of_the_wrong_shape_are_refused(tmp_path: Path) -> None:
    spilled = SpilledNearDedup(folder=tmp_path / "spill", memory=1 << 20)
    signatures = np.zeros((3, 256), dtype=np.uint16)
    with pytest.raises(ValueError, match="band hashes have shape"):
        spilled.add_signatures(signatures, np.arange(3), np.zeros((3, spilled.bands + 1), dtype=np.uint64))
    spilled.close()


def test_spilled_near_dedup_of_nothing(tmp_path: Path) -> None:
    spilled = SpilledNearDedup(folder=tmp_path / "spill", memory=1)
    found = spilled.finalize()
    spilled.close()
    assert len(found.dropped) == 0 and not (tmp_path / "spill").exists()


# --- whole builds ---

@pytest.mark.parametrize("spec", sorted(SPECS))
def test_bundled_sample_within_a_tiny_budget(demo_registry: Registry, tmp_path: Path, spec: str) -> None:
    free = build_release(demo_registry, load_spec(SPECS[spec]), out_dir=tmp_path / "free", progress=False,
                         record=False)
    tight = build_release(demo_registry, load_spec(SPECS[spec]), out_dir=tmp_path / "tight", progress=False,
                          record=False, memory=2048)
    assert tight.manifest_sha256 == free.manifest_sha256
    assert tight.funnel.as_dict() == free.funnel.as_dict()
    same_bytes(tmp_path / "free", tmp_path / "tight")


@pytest.fixture
def generated_registry(registry: Registry, tmp_path: Path) -> Registry:
    """A few thousand passages of the bundled texts, every 97th an exact and every 41st a near copy."""
    data = tmp_path / "docs.jsonl"
    _scale_bench().generate(data, 4000)
    catalogue = tmp_path / "sources.yaml"
    catalogue.write_text(
        "sources:\n  - slug: passages\n    name: Passages of the bundled real texts\n"
        "    collection: OpenCulture\n    license: public-domain\n"
        f"    reader: {{allow_outside: true, kind: jsonl, path: {data}}}\n", encoding="utf-8")
    sync_sources(registry, catalogue_path=catalogue)
    ingest(registry, progress=False)
    return registry


def test_generated_corpus_within_a_tiny_budget(generated_registry: Registry, tmp_path: Path) -> None:
    spec = parse_spec({"name": "scale-fr", "version": "1.0.0", "select": {"languages": ["fr"]},
                       "filters": {"length": {"min_words": 20}}})
    free = build_release(generated_registry, spec, out_dir=tmp_path / "free", progress=False)
    free_fates = recorded_fates(generated_registry, free)
    workers = LocalExecutor(2)  # tasks handed out a few at a time, results taken in order
    try:
        tight = build_release(generated_registry, spec, out_dir=tmp_path / "tight", progress=False, memory=4096,
                              executor=workers)
    finally:
        workers.close()
    assert recorded_fates(generated_registry, tight) == free_fates
    near = [f for f in free_fates if f[3] == "near_dedup"]
    assert len(near) >= 20 and any(f[3] == "exact_dedup" for f in free_fates)
    assert tight.manifest_sha256 == free.manifest_sha256
    same_bytes(tmp_path / "free", tmp_path / "tight")
