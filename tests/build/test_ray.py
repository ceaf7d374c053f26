"""The Ray executor gives the local executor's bytes: same tasks, same results, same clusters.

Ray starts once for this module (a local instance with 2 CPUs, loopback only) and stops at its
end. Without Ray installed these tests skip; the rest of the suite never imports it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from corpus_registry.audit.auditor import audit
from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.tasks import filter_and_sign
from corpus_registry.build.dedup import LSHIndex, NearDedup, bucket_pairs, document_pairs
from corpus_registry.build.dedup.distributed import grouped_near_dedup
from corpus_registry.build.spec import load_spec
from corpus_registry.cli import cli
from corpus_registry.errors import LicenseError
from corpus_registry.registry import licences
from corpus_registry.registry.db.models import Blob, Document, Source
from corpus_registry.registry.documents import count_words
from corpus_registry.registry.registry import Registry

from tests.conftest import REPO
from tests.audit.test_audit import PD_POLICY, as_jsonl, comparable, force_workers, plant_problems, small_sqlite_release

SPECS = {"fr": REPO / "specs" / "fr.yaml", "all": REPO / "specs" / "all.yaml"}

# Ray Data's copies of its context read its own deprecated settings: not ours to fix.
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\.")


@pytest.fixture(scope="module")
def ray_executor() -> Iterator:
    pytest.importorskip("ray")
    from corpus_registry.executors.ray_executor import RayExecutor

    ex = RayExecutor(workers=2)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def local_builds(demo_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildResult]:
    return {name: build_release(demo_registry, load_spec(path), out_dir=tmp_path_factory.mktemp(f"local-{name}"),
                                progress=False, record=False)
            for name, path in SPECS.items()}


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_ray_build_is_byte_identical(demo_registry: Registry, ray_executor, local_builds: dict[str, BuildResult],
                                     spec: str, tmp_path: Path) -> None:
    result = build_release(demo_registry, load_spec(SPECS[spec]), out_dir=tmp_path / spec, progress=False,
                           record=False, executor=ray_executor)
    local = local_builds[spec]
    assert result.rows == local.rows > 100
    assert result.files == local.files  # every shard, the card, attribution, funnel chart and manifest
    for rel, sha in result.files.items():  # and the files on disk are what was reported
        assert hashlib.sha256((result.out_dir / rel).read_bytes()).hexdigest() == sha
    near = next(s for s in result.funnel.as_dict()["stages"] if s["stage"] == "near_dedup")
    assert near["docs_in"] > near["docs_out"]  # near duplicates were found (and found alike)


def test_cli_build_with_ray(demo_registry: Registry, ray_executor, local_builds: dict[str, BuildResult],
                            tmp_path: Path) -> None:
    out = tmp_path / "fr"
    r = CliRunner().invoke(cli, ["--db", demo_registry.url, "build", str(SPECS["fr"]), "--out", str(out),
                                 "--executor", "ray", "--workers", "2", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "Built corpus-registry-demo-fr 1.0.0" in r.output
    for rel, sha in local_builds["fr"].files.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == sha, rel


def test_map_results_equal_local_in_task_order(demo_registry: Registry, ray_executor) -> None:
    from corpus_registry.build.tasks import SignTask

    items = _items(demo_registry).slice(0, 300)
    tasks = [SignTask(demo_registry.store.url, {"length": {"min_words": 50}}, (256, 5, 1), items.slice(i, 7))
             for i in range(0, items.num_rows, 7)]
    local = list(map(filter_and_sign, tasks))
    remote = list(ray_executor.map(filter_and_sign, tasks))
    assert len(remote) == len(local)
    for got, want in zip(remote, local):
        assert (got.dropped, got.passed, got.signed) == (want.dropped, want.passed, want.signed)
        assert (got.signatures is None) == (want.signatures is None)
        if got.signatures is not None:
            assert got.signatures.dtype == want.signatures.dtype
            assert np.array_equal(got.signatures, want.signatures)
    assert sum(len(r.dropped) for r in remote) > 10 and sum(len(r.signed) for r in remote) > 100
    assert list(ray_executor.map(filter_and_sign, [])) == []


def test_map_takes_tasks_a_window_at_a_time(ray_executor) -> None:
    texts = [" ".join(["mot"] * i) for i in range(150)]  # three windows of tasks for 2 workers
    pulled: list[str] = []

    def tasks() -> Iterator[str]:
        for t in texts:
            pulled.append(t)
            yield t

    results = ray_executor.map(count_words, tasks())
    assert pulled == []  # nothing is taken before a result is wanted
    assert next(results) == 0
    assert 0 < len(pulled) < len(texts)
    assert [0, *results] == [count_words(t) for t in texts]


def test_library_error_in_a_task_reaches_the_caller(ray_executor) -> None:
    results = ray_executor.map(licences.parse, ["MIT", "not-a-licence-9.9"])
    assert next(results).expression == licences.parse("MIT").expression
    with pytest.raises(LicenseError, match="not-a-licence-9.9") as info:
        next(results)
    assert info.value.hint  # travelled with its hint, not flattened into a traceback string


@pytest.mark.parametrize("docs_per_slot", [1_000_000, 37])
def test_shuffled_buckets_give_the_local_clusters(demo_registry: Registry, ray_executor, docs_per_slot: int) -> None:
    """Real texts plus edited copies (clusters, chains, buckets of many members); one or many slots."""
    texts = {f"{slug}/{ident}": demo_registry.store.get(sha, shard)
             for slug, ident, sha, shard, *_ in _rows(demo_registry)[:400]}
    rng = np.random.default_rng(7)
    for key, text in list(texts.items())[:60]:
        words = text.split()
        for copy in range(int(rng.integers(1, 5))):
            keep = rng.random(len(words)) > 0.02 * (copy + 1)  # each copy drifts a little further
            texts[f"{key}~{copy}"] = " ".join(w for w, k in zip(words, keep) if k)
    near_local, near_ray = NearDedup(), NearDedup()
    signatures = near_local.hasher.signatures(list(texts.values()))
    for n, (key, sig) in enumerate(zip(texts, signatures)):
        for near in (near_local, near_ray):
            near.add_signature(key=key, signature=sig, date=None, word_count=n % 97)
    local = near_local.finalize()
    shuffled = grouped_near_dedup(near_ray, ray_executor, docs_per_slot=docs_per_slot)
    assert local.stats["verified_pairs"] > 60 and local.stats["dropped"] > 60
    assert shuffled.stats == local.stats  # the same candidate pairs, not only the same outcome
    assert shuffled.duplicate_of == local.duplicate_of
    assert shuffled.kept_keys == local.kept_keys


def test_bucket_pairs_are_the_index_candidate_pairs() -> None:
    """Grouping buckets anywhere, then pairing them, proposes exactly what the LSH index does."""
    rng = np.random.default_rng(3)
    n, bands = 500, 6
    index = LSHIndex(bands=bands, rows=2)
    index.add_batch([f"d{i}" for i in range(n)], rng.integers(0, 3, size=(n, bands * 2)).astype(np.uint32))
    order = rng.permutation(n)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    found = []
    for band in range(bands):
        column = index.bucket_ids()[:, band]
        shuffled = rng.permutation(n)  # members arrive in any order
        sort = np.argsort(column[shuffled], kind="stable")
        members = position[shuffled][sort]
        cuts = np.flatnonzero(np.diff(column[shuffled][sort])) + 1
        found.append(bucket_pairs(np.concatenate([[0], cuts, [n]]), members))
    expected = index.candidate_pairs(order)
    assert len(expected) > n
    assert np.array_equal(document_pairs(order, np.concatenate(found)), expected)
    assert bucket_pairs(np.array([0, 1, 2]), np.array([5, 9])).shape == (0, 2)  # singletons only


@pytest.fixture(scope="module")
def planted_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    """The audit tests' small SQLite registry and a release of it with planted problems."""
    tmp = tmp_path_factory.mktemp("ray-audit")
    reg, release = small_sqlite_release(tmp)
    yield reg, plant_problems(reg, release, tmp / "planted")
    reg.dispose()


def test_ray_audit_gives_the_local_report(planted_release: tuple[Registry, Path], ray_executor,
                                          tmp_path: Path) -> None:
    from corpus_registry.audit.policy import load_policy

    reg, planted = planted_release
    jsonl = as_jsonl(planted, tmp_path / "planted.jsonl")
    for target, policy, cap in ((planted, None, 1000), (planted, load_policy(PD_POLICY), 3), (jsonl, None, 2)):
        local = audit(reg, target, policy=policy, max_problems=cap, collect_attribution=True, progress=False)
        remote = audit(reg, target, policy=policy, max_problems=cap, collect_attribution=True, progress=False,
                       executor=ray_executor, inline_below=0, batch_size=50)
        assert not local.ok and local.problem_counts["text_altered"] == 3
        assert comparable(remote) == comparable(local)
        assert remote.attribution_entries == local.attribution_entries


def test_cli_audit_with_ray(planted_release: tuple[Registry, Path], ray_executor, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    reg, planted = planted_release
    big = as_jsonl(planted, tmp_path / "big.jsonl", copies=20)  # three tasks of 5,000 lines
    force_workers(monkeypatch)
    outputs = []
    for options in (["--workers", "1"], ["--executor", "ray", "--workers", "2"]):
        r = CliRunner().invoke(cli, ["--db", reg.url, "audit", str(big), "--format", "json", "--no-progress",
                                     *options])
        assert r.exit_code == 1, r.output
        data = json.loads(r.output[: r.output.rindex("}") + 1])
        del data["seconds"], data["rows_per_s"]
        outputs.append(data)
    assert outputs[1] == outputs[0]
    assert outputs[0]["problem_counts"]["text_altered"] == 3 * 20


def _rows(reg: Registry) -> list[tuple]:
    with reg.session() as s:
        return s.execute(
            select(Source.slug, Document.identifier, Document.sha256, Blob.shard, Document.word_count,
                   Document.language, Document.date)
            .join(Source, Source.id == Document.source_id).join(Blob, Blob.sha256 == Document.sha256)
            .where(Document.is_current.is_(True)).order_by(Source.slug, Document.identifier)
        ).all()


def _items(reg: Registry) -> pa.Table:
    """Every current document as a sign task's items (numbered in registry order)."""
    rows = _rows(reg)
    return pa.table({"index": list(range(len(rows))), "sha256": [r.sha256 for r in rows],
                     "shard": [r.shard for r in rows], "words": [r.word_count for r in rows],
                     "language": [r.language for r in rows], "date": [r.date for r in rows],
                     "sign": [True] * len(rows)})
