"""Ingest on Ray leaves the registry as a local ingest does, and a task that dies is retried
without writing a document twice. Real PostgreSQL, a local Ray instance with 2 CPUs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from corpus_registry.build.builder import build_release
from corpus_registry.build.spec import load_spec
from corpus_registry.cli import cli
from corpus_registry.registry.db.models import Document, IngestRun, Source
from corpus_registry.registry.ingest_tasks import END, plan_slices
from corpus_registry.registry.readers import get_reader
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from tests.conftest import CATALOGUE, REPO

pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\.")
FR = REPO / "specs" / "fr.yaml"


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    pytest.importorskip("ray")
    from corpus_registry.executors.ray_executor import RayExecutor

    ex = RayExecutor(workers=2)
    yield
    ex.close()


def _fresh(make_db_url, tmp_path: Path, name: str) -> Registry:
    reg = Registry(make_db_url("postgresql"))
    reg.init(store=str(tmp_path / f"store-{name}"))
    sync_sources(reg, catalogue_path=CATALOGUE)
    return reg


def _stats(reg: Registry) -> dict:
    r = CliRunner().invoke(cli, ["--db", reg.url, "stats", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    data.pop("registry")  # where it is (its URL), not what it holds
    return data


def _documents(reg: Registry, slug: str | None = None) -> list[tuple]:
    with reg.session() as s:
        q = (select(Source.slug, Document.identifier, Document.version, Document.sha256, Document.language,
                    Document.is_current, Document.status, Document.license)
             .join(Source, Source.id == Document.source_id))
        if slug:
            q = q.where(Source.slug == slug)
        return sorted(tuple(row) for row in s.execute(q))


def _undated(manifest: Path) -> dict:
    data = json.loads(manifest.read_text())
    for decision in data["decisions"]:
        decision.pop("at")
    return data


@pytest.mark.parametrize("demo_registry", ["postgresql"], indirect=True)
def test_ray_ingest_equals_local(demo_registry: Registry, ray_instance, make_db_url, tmp_path: Path) -> None:
    reg = _fresh(make_db_url, tmp_path, "ray")
    r = CliRunner().invoke(cli, ["--db", reg.url, "ingest", "--executor", "ray", "--workers", "2", "--no-progress",
                                 "--json"])
    assert r.exit_code == 0, r.output
    reported = {row["source"]: row for row in json.loads(r.output)}
    assert _documents(reg) == _documents(demo_registry)  # same documents, versions, sha256s, languages
    assert _stats(reg) == _stats(demo_registry)
    with reg.session() as s:
        runs = s.scalars(select(IngestRun)).all()
    assert {run.status for run in runs} == {"complete"} and len(runs) == len(reported) == 6
    assert sum(run.added for run in runs) == sum(row["added"] for row in reported.values()) == len(_documents(reg))
    local = build_release(demo_registry, load_spec(FR), out_dir=tmp_path / "local", progress=False, record=False)
    ray = build_release(reg, load_spec(FR), out_dir=tmp_path / "ray", progress=False, record=False)
    assert ray.rows == local.rows > 0
    assert ray.files.keys() == local.files.keys()
    for rel in local.files:  # every shard, the card, attribution: byte for byte
        if rel != "manifest.json":
            assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
            assert ray.files[rel] == local.files[rel]
    # the manifest too, but for when each registry's `sources sync` recorded its licence decisions
    assert _undated(tmp_path / "ray" / "manifest.json") == _undated(tmp_path / "local" / "manifest.json")
    # a second Ray ingest changes nothing
    r = CliRunner().invoke(cli, ["--db", reg.url, "ingest", "--executor", "ray", "--no-progress", "--json"])
    assert r.exit_code == 0, r.output
    assert all(row["added"] == 0 and row["unchanged"] == row["seen"] > 0 for row in json.loads(r.output))
    assert _stats(reg) == _stats(demo_registry)


@pytest.mark.parametrize("demo_registry", ["postgresql"], indirect=True)
def test_killed_task_is_retried_without_duplicates(demo_registry: Registry, ray_instance, make_db_url,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from corpus_registry.registry.ray_ingest import KILL_ONCE, ray_ingest

    reg = _fresh(make_db_url, tmp_path, "kill")
    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_ONCE, str(marker))
    monkeypatch.setenv("CORPUS_REGISTRY_BATCH_DOCS", "2")  # several batches per task: one commits before the death
    [stats] = ray_ingest(reg, ["nltk-udhr"], progress=False)
    assert marker.exists()  # a task attempt did die after committing its first batch
    docs = _documents(reg, "nltk-udhr")
    assert docs == _documents(demo_registry, "nltk-udhr")  # nothing missing, nothing twice
    with reg.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == len(docs)
        run = s.scalars(select(IngestRun)).one()
    assert run.status == "complete"
    assert run.seen == run.added == stats.seen == stats.added == len(docs)  # the retried batch counted once


def test_slices_cover_the_source_once() -> None:
    """Per-file slices for a folder reader: every file in exactly one slice, in reading order."""
    reader = get_reader("text", base_dir=REPO, options={"path": "data/nltk-udhr/udhr", "glob": "*.txt"})
    files = len(reader.files())
    for tasks in (1, 3, 8, files, files * 2):
        slices = plan_slices(reader, max_tasks=tasks)
        assert len(slices) <= min(tasks, files) and (tasks < files or len(slices) == files)
        assert slices[0][0] == 0 and slices[-1][1] == END
        assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
        ids = [i for piece in slices
               for i, _ in get_reader("text", base_dir=REPO,
                                      options={"path": "data/nltk-udhr/udhr", "glob": "*.txt"}).ranged(*piece)
               .identifiers()]
        assert ids == [i for i, _ in reader.identifiers()]


def test_parquet_slices_are_whole_row_groups(tmp_path: Path) -> None:
    """Parquet slices end on row-group boundaries and read every row once, in order; JSONL slices
    are runs of lines that read every record once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, rows in (("a.parquet", 250), ("b.parquet", 130)):
        table = pa.table({"id": [f"{name}-{i}" for i in range(rows)], "text": [f"text {i}" for i in range(rows)]})
        pq.write_table(table, tmp_path / name, row_group_size=50)
    (tmp_path / "c.jsonl").write_text("".join(f'{{"id": "j{i}", "text": "t {i}"}}\n' for i in range(120)))
    opts = {"path": ".", "id_field": "id", "text_field": "text"}
    for kind in ("parquet", "jsonl"):
        reader = get_reader(kind, base_dir=tmp_path, options=opts)
        slices = plan_slices(reader, max_tasks=4, rows_per_task=60)
        assert len(slices) > 1
        if kind == "parquet":  # boundaries at multiples of 50 within a.parquet, or at its end (250)
            assert all(stop in {100, 150, 200, 250, 300, 350} for _, stop in slices[:-1]), slices
        ids = [i for piece in slices for i, _ in get_reader(kind, base_dir=tmp_path, options=opts).ranged(*piece)
               .identifiers()]
        assert ids == [i for i, _ in reader.identifiers()] and len(ids) == (380 if kind == "parquet" else 120)
