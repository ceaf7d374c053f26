"""The parts that let a build hold a corpus in bounded memory: side columns read back by row, exact
dedup on hash parts, the streamed signing (and its end-of-read repair), key order, light workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import corpus_registry.build.sign_stream as sign_stream
from corpus_registry.build.builder import _exact_duplicates, _ints, build_release
from corpus_registry.build.candidates import SIDE, SideColumns, read_candidates
from corpus_registry.build.dedup.lsh import _components, cluster_keepers
from corpus_registry.build.dedup.spill import _similarities
from corpus_registry.build.release import plan_shards
from corpus_registry.build.spec import load_spec, parse_spec
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from tests.build.test_memory import SPECS, same_bytes
from tests.conftest import REPO

texts = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=60, deadline=None)
@given(pages=st.lists(st.lists(st.tuples(*[texts] * len(SIDE)), max_size=7), min_size=1, max_size=6),
       picks=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30), on_disk=st.booleans())
def test_side_columns_give_back_any_rows(tmp_path_factory: pytest.TempPathFactory, pages: list, picks: list[int],
                                         on_disk: bool) -> None:
    """Rows in any order and repeated, across pages, from memory or from the Arrow file."""
    folder = tmp_path_factory.mktemp("side")
    side = SideColumns(folder / "side.arrow" if on_disk else None)
    tables = [pa.table({name: pa.array([row[i] for row in page], pa.string()) for i, name in enumerate(SIDE)})
              for page in pages]
    for table in tables:
        side.append(table)
    side.close_writing()
    whole = pa.concat_tables(tables)
    rows = np.array([p % whole.num_rows for p in picks] if whole.num_rows else [], dtype=np.int64)
    assert side.take(rows).to_pylist() == whole.take(pa.array(rows, pa.int64())).to_pylist()
    assert side.take(rows, ("url", "source")).column_names == ["url", "source"]
    side.close()
    assert not any(folder.iterdir())  # the file it wrote, and nothing else, is gone


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=40), st.randoms())
def test_exact_duplicates_match_a_plain_grouping(texts_: list[int], rnd) -> None:  # type: ignore[no-untyped-def]
    """Each position points at the best-ranked position with the same 32 bytes (rank: a random
    permutation), among the rows asked about (the others, interleaved, are not candidates)."""
    raw = np.zeros((2 * len(texts_), 4), dtype=np.uint64)
    rows = np.arange(0, 2 * len(texts_), 2)  # every other row is asked about
    raw[rows, 3] = texts_  # texts differing only in their last 8 bytes: every part is compared
    raw[rows, 0] = [t % 2 for t in texts_]  # some share their first 8 bytes, some do not
    raw[rows + 1, 3] = texts_  # rows not asked about, with the same texts: never chosen
    ranks = np.arange(len(texts_))
    rnd.shuffle(ranks)
    found = _exact_duplicates(raw, rows, ranks)
    groups: dict[int, list[int]] = defaultdict(list)
    for at, text in enumerate(texts_):
        groups[text].append(at)
    for positions in groups.values():
        best = min(positions, key=lambda p: ranks[p])
        for p in positions:
            assert found[p] == (-1 if p == best else best)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=400), st.sampled_from([16, 64]), st.integers(min_value=0, max_value=600),
       st.sampled_from([300, 4000, 10**6]), st.integers(min_value=0, max_value=2**32 - 1))
def test_out_of_core_similarities_match_in_memory(tmp_path_factory: pytest.TempPathFactory, size: int, num_perm: int,
                                                   pairs_: int, memory: int, seed: int) -> None:
    """The spilled near dedup's join of pair signatures (file read in blocks, buckets on disk) gives
    each pair the similarity a plain in-memory comparison gives, and leaves only the file it read."""
    rng = np.random.default_rng(seed)
    folder = tmp_path_factory.mktemp("sigs")
    signatures = rng.integers(0, 3, size=(size, num_perm), dtype=np.uint16)  # few values: many close pairs
    signatures.tofile(folder / "signatures.u16")
    pairs = rng.integers(0, size, size=(pairs_, 2))
    got = _similarities(folder / "signatures.u16", num_perm, size, pairs, memory)
    equal = (signatures[pairs[:, 0]] == signatures[pairs[:, 1]]).mean(axis=1)
    assert np.array_equal(got, np.clip((equal - 2**-16) / (1 - 2**-16), 0.0, 1.0))
    assert [p.name for p in folder.iterdir()] == ["signatures.u16"]


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=60),
       st.randoms())
def test_cluster_keepers_keep_each_clusters_best(size: int, pairs_: list[tuple[int, int]], rnd) -> None:  # type: ignore[no-untyped-def]
    """Every member of a cluster (pairs joined transitively, found by a plain union-find here) but
    its lowest-positioned one points at that one; nothing else is dropped."""
    pairs = np.array([(a % size, b % size) for a, b in pairs_], dtype=np.int64).reshape(-1, 2)
    position = np.arange(size)
    rnd.shuffle(position)
    parent = list(range(size))

    def root(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        parent[root(a)] = root(b)
    clusters: dict[int, list[int]] = defaultdict(list)
    for x in range(size):
        clusters[root(x)].append(x)
    expected = sorted((m, min(g, key=lambda y: position[y])) for g in clusters.values() if len(g) > 1
                      for m in g if m != min(g, key=lambda y: position[y]))
    dropped, kept = cluster_keepers(size, pairs, position)
    assert list(zip(dropped.tolist(), kept.tolist())) == expected
    assert sorted(map(sorted, _components(size, pairs))) == sorted(g for g in clusters.values() if len(g) > 1)


def test_blob_shards_tell_apart_hashes_sharing_their_first_bytes(tmp_path: Path) -> None:
    """The blob index keeps 8-byte heads; blobs whose heads collide are told apart by their whole
    hash, and a hash no blob has (even one sharing a head) has no shard."""
    from corpus_registry.build.candidates import _BlobShards
    from corpus_registry.registry.db.models import Blob

    registry = Registry(str(tmp_path / "r.db"))
    registry.init()
    head = "ab" * 8
    blobs = {head + "0" * 48: "s1", head + "1" * 48: "s2", "cd" * 32: "s3", "0f" * 32: "s1"}
    with registry.session() as s:
        s.add_all([Blob(sha256=k, shard=v, byte_size=1) for k, v in blobs.items()])
    asked = [*blobs, head + "2" * 48, "ee" * 32]
    raw = pa.array([bytes.fromhex(h) for h in asked], pa.binary(32))
    with registry.engine.connect() as conn:
        shards = _BlobShards(conn, wanted=len(asked))
        assert not shards.lookup and len(shards.whole) == 2
        assert shards.of(raw).to_pylist() == [*blobs.values(), None, None]


def test_texts_sharing_their_first_bytes_are_all_signed(demo_registry: Registry, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """If every text seemed met before (all hashes share their first 8 bytes), only the first is
    signed while reading; the others are signed at the end, and the release is the same bytes."""
    spec = load_spec(SPECS["all"])
    expected = build_release(demo_registry, spec, out_dir=tmp_path / "normal", progress=False, record=False)
    monkeypatch.setattr(sign_stream, "hash_heads", lambda sha256: np.zeros(len(sha256), dtype=np.uint64))
    signed: list[int] = []
    real = sign_stream.SignStream._sign_missing

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        before = self.size
        real(self, *args, **kwargs)
        signed.append(self.size - before)

    monkeypatch.setattr(sign_stream.SignStream, "_sign_missing", counting)
    colliding = build_release(demo_registry, spec, out_dir=tmp_path / "colliding", progress=False, record=False)
    assert signed and signed[0] > 10  # the repair did the work
    assert expected.funnel.as_dict() == colliding.funnel.as_dict()
    same_bytes(tmp_path / "normal", tmp_path / "colliding")


def test_rows_come_in_key_order(registry: Registry, tmp_path: Path) -> None:
    """``a-b/x`` sorts before ``a/x`` (byte order of the key), whatever order SQL gives slugs in;
    removed.parquet and the shards list documents in that order."""
    data = tmp_path / "d"
    data.mkdir()
    book = next(p for p in sorted((REPO / "data" / "gutenberg-fr").rglob("*.txt")))
    words = book.read_bytes().decode("latin-1").split()[5000:5000 + 9 * 300]  # the file is Latin-1
    passages = iter(" ".join(words[i:i + 300]) for i in range(0, len(words), 300))
    for name in ("a", "a-b", "a0"):
        (data / f"{name}.jsonl").write_text("".join(
            json.dumps({"id": i, "text": next(passages)}) + "\n" for i in ["Z", "b", "B"]), encoding="utf-8")
    catalogue = tmp_path / "sources.yaml"
    catalogue.write_text("sources:\n" + "".join(
        f"  - slug: {name}\n    name: Source {name}\n    collection: OpenCulture\n    license: public-domain\n"
        f"    reader: {{kind: jsonl, path: {data / (name + '.jsonl')}, allow_outside: true}}\n"
        for name in ("a", "a-b", "a0")), encoding="utf-8")
    sync_sources(registry, catalogue_path=catalogue)
    ingest(registry, progress=False)
    spec = parse_spec({"name": "order", "version": "1.0.0", "select": {"languages": ["fr"]}, "filters": {}})
    cands = read_candidates(registry, spec)
    keys = cands.keys(np.arange(len(cands)))
    assert keys == sorted(keys, key=str.encode) and keys[0].startswith("a-b/")
    out = build_release(registry, spec, out_dir=tmp_path / "out", progress=False, record=False)
    rows = pq.read_table(out.out_dir / "data" / "fr" / "train-00000-of-00001.parquet",
                         columns=["source", "identifier"]).to_pylist()
    shipped = [f"{r['source']}/{r['identifier']}" for r in rows]
    assert shipped == sorted(shipped, key=str.encode)


def test_a_worker_imports_only_what_its_tasks_use() -> None:
    """The build's workers import the tasks module: not the registry's database layer, the card
    templates or the CLI (each would cost every worker tens of megabytes)."""
    code = ("import sys, corpus_registry.build.tasks; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'jinja2', 'click', 'matplotlib', "
            "'alembic', 'tqdm'}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_workers_of_the_console_script_skip_the_cli_and_pandas(tmp_path: Path) -> None:
    """A worker spawned by the ``corpus-registry`` script (a file that imports the CLI) does not
    re-run it, and pyarrow's pandas check does not import pandas there: tens of megabytes a worker."""
    (tmp_path / "probe_task.py").write_text(
        "import sys\nimport pyarrow as pa\n\n\ndef loaded(_):\n    pa.array([1, 2])  # pyarrow's pandas check\n"
        "    return sorted({m.split('.')[0] for m in sys.modules} & {'click', 'sqlalchemy', 'pandas'})\n",
        encoding="utf-8")
    script = tmp_path / "corpus-registry"
    script.write_text(
        "import sys\nfrom corpus_registry.cli import _spawn_as_module\n"
        "from corpus_registry.executors.local import LocalExecutor\nimport probe_task\n\n"
        "if __name__ == '__main__':\n    _spawn_as_module()\n    executor = LocalExecutor(2)\n"
        "    print(list(executor.map(probe_task.loaded, [0, 1])))\n    executor.close()\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    out = subprocess.run([sys.executable, str(script)], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip() == "[[], []]"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**31 - 1), max_size=300), st.integers(min_value=1, max_value=50),
       st.integers(min_value=1, max_value=2**33), st.integers(min_value=1, max_value=64))
def test_shards_planned_from_sizes_a_chunk_at_a_time(sizes: list[int], max_rows: int, max_bytes: int, chunk: int) -> None:
    """The write plan reads sizes (4-byte counts) a chunk at a time, as Python ints (no 2M-item list, no
    4-byte sums overflowing past 2 GB): the same shards as from the whole list, every row in one, each
    within its limits unless a single row exceeds them."""
    from_chunks = plan_shards(_ints(np.array(sizes, dtype=np.int32), chunk), max_rows=max_rows, max_bytes=max_bytes)
    assert from_chunks == plan_shards(sizes, max_rows=max_rows, max_bytes=max_bytes)
    assert sum(from_chunks) == len(sizes)
    start = 0
    for n in from_chunks:
        assert 1 <= n <= max_rows
        assert n == 1 or sum(sizes[start:start + n]) <= max_bytes
        start += n
