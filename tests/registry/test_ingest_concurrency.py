"""Ingest under concurrency and failure (issue 12): duplicate identifiers whatever the worker count,
one ingest per source at a time, workers that die with their parent, stale and failed runs.
Real texts, real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from corpus_registry.errors import ReaderError
from corpus_registry.registry import lookup
from corpus_registry.registry.db.models import Document, IngestRun, Source
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from tests.conftest import DATA

GERMINAL = DATA / "gutenberg-fr/pg5711-germinal/5711-8.txt"


def passages(n: int, *, size: int = 80, prefix: str = "germinal") -> list[dict[str, str]]:
    """``n`` records of real French prose (Germinal), each a distinct passage."""
    words = GERMINAL.read_text(encoding="latin-1").split()
    starts = [(i * 37) % (len(words) - size) for i in range(n)]
    return [{"id": f"{prefix}-{i:05d}", "text": f"{prefix} {i}. " + " ".join(words[start:start + size])}
            for i, start in enumerate(starts)]


def write_source(folder: Path, records: list[dict[str, str]], *, slug: str = "germinal") -> Path:
    (folder / f"{slug}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
                                         encoding="utf-8")
    catalogue = folder / "sources.yaml"
    catalogue.write_text(f"sources:\n  - slug: {slug}\n    name: Germinal passages\n    collection: OpenCulture\n"
                         f"    license: public-domain\n    reader: {{kind: jsonl, path: {slug}.jsonl}}\n", encoding="utf-8")
    return catalogue


def documents(reg: Registry) -> list[tuple[str, int, bool, str]]:
    with reg.session() as s:
        return [tuple(r) for r in s.execute(select(Document.identifier, Document.version, Document.is_current,
                                                   Document.sha256).order_by(Document.identifier, Document.version))]


def runs(reg: Registry) -> list[IngestRun]:
    with reg.session() as s:
        return list(s.scalars(select(IngestRun).order_by(IngestRun.id)))


def cli(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "corpus_registry.cli", "--db", url, *args]


# --- item 3: duplicate identifiers, whatever the worker count --------------------------------------

def test_duplicate_identifier_same_error_and_nothing_committed_with_one_or_two_workers(
        registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPUS_REGISTRY_BATCH_DOCS", "5")  # many small commits: any partial commit would show
    records = passages(60)
    records.append({"id": "germinal-00003", "text": "Un autre texte, en français, avec un identifiant déjà pris."})
    sync_sources(registry, catalogue_path=write_source(tmp_path, records))
    messages = []
    for workers in (1, 2, 2, 1):
        with pytest.raises(ReaderError) as caught:
            ingest(registry, progress=False, workers=workers)
        messages.append(str(caught.value))
        assert documents(registry) == []  # nothing committed, run after run
    assert len(set(messages)) == 1, messages
    assert messages[0] == ("germinal: duplicate identifier 'germinal-00003' (germinal.jsonl:4 and germinal.jsonl:61); "
                           "nothing was ingested")
    assert [r.status for r in runs(registry)] == ["failed"] * 4

    write_source(tmp_path, records[:-1])  # the data fixed: ingests, and stays put however often it runs again
    ingest(registry, progress=False, workers=2)
    first = documents(registry)
    assert len(first) == 60 and {v for _, v, _, _ in first} == {1}
    for workers in (2, 1, 2):
        stats = ingest(registry, progress=False, workers=workers)
        assert (stats[0].added, stats[0].updated, stats[0].unchanged) == (0, 0, 60)
        assert documents(registry) == first


def test_file_names_that_give_one_identifier_are_a_duplicate(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    for name in ("candide.txt", "candide.md"):  # both become identifier 'candide'
        (tmp_path / "texts" / name).write_bytes((DATA / "gutenberg-fr/pg4650-candide/4650-8.txt").read_bytes())
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - slug: t\n    name: T\n    collection: OpenCulture\n    license: public-domain\n"
        "    reader: {kind: text, path: texts, glob: '*'}\n", encoding="utf-8")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    for workers in (1, 2):
        with pytest.raises(ReaderError, match=r"duplicate identifier 'candide' \(candide\.md and candide\.txt\)"):
            ingest(registry, progress=False, workers=workers)
    assert documents(registry) == []


# --- item 15: one ingest per source at a time ------------------------------------------------------

def _wait_for(predicate, *, timeout: float = 120.0, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_second_ingest_of_a_source_is_told_who_holds_it(backend: str, make_db_url, tmp_path: Path) -> None:
    url = make_db_url(backend)
    reg = Registry(url)
    reg.init(store=str(tmp_path / "store"))
    sync_sources(reg, catalogue_path=write_source(tmp_path, passages(6000)))
    env = {**os.environ, "CORPUS_REGISTRY_BATCH_DOCS": "20"}
    first = subprocess.Popen(cli(url, "ingest", "--no-progress", "--workers", "1"), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(r.status == "running" for r in runs(reg)), what="the first ingest to start")
        second = subprocess.run(cli(url, "ingest", "--no-progress", "--workers", "2"), env=env,
                                capture_output=True, text=True, timeout=300)
    finally:
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert "duplicate" not in second.stderr and "Traceback" not in second.stderr
    assert f"another ingest of this source is running (pid {first.pid} on " in second.stderr
    assert "--break-lock" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 2  # the error line and its hint
    with reg.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 6000
        assert s.scalar(select(func.max(Document.version))) == 1
    assert [r.status for r in runs(reg)] == ["complete"]  # the loser recorded no run
    reg.dispose()


# --- item 17: workers die with their parent; stale and failed runs ---------------------------------

def test_kill_9_of_the_parent_leaves_no_worker_and_the_run_is_marked_interrupted(
        backend: str, make_db_url, tmp_path: Path) -> None:
    url = make_db_url(backend)
    reg = Registry(url)
    reg.init(store=str(tmp_path / "store"))
    sync_sources(reg, catalogue_path=write_source(tmp_path, passages(8000)))
    env = {**os.environ, "CORPUS_REGISTRY_BATCH_DOCS": "20"}
    proc = subprocess.Popen(cli(url, "ingest", "--no-progress", "--workers", "2"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)

    def committing() -> bool:
        with reg.session() as s:
            return (s.scalar(select(func.count()).select_from(Document)) or 0) >= 100

    _wait_for(committing, what="the workers to commit")
    children = parent.children(recursive=True)
    workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) == 2, [c.cmdline() for c in children]
    proc.send_signal(signal.SIGKILL)  # the parent only, as `kill -9 PID` does
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [c.cmdline() for c in alive]

    [run] = runs(reg)
    assert run.status == "running" and run.pid == proc.pid  # nobody has looked yet
    lookup.stats(reg)  # the next stats (or ingest) notices the process is gone
    [run] = runs(reg)
    assert run.status == "interrupted"
    with reg.session() as s:
        committed = s.scalar(select(func.count()).select_from(Document))
    assert run.added == committed and run.seen == committed  # the counts of the batches it committed
    stats = ingest(reg, progress=False, workers=2)  # resumes: the lock was released with the dead run
    assert stats[0].added + stats[0].unchanged == 8000
    reg.dispose()


def test_a_failed_run_records_the_batches_it_committed(registry: Registry, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORPUS_REGISTRY_BATCH_DOCS", "5")
    records = passages(40)
    records[22]["text"] = "   "  # an empty document: found while reading, after four batches of five
    sync_sources(registry, catalogue_path=write_source(tmp_path, records))
    with pytest.raises(ReaderError, match=r"germinal\.jsonl:23: document 'germinal-00022' is empty"):
        ingest(registry, progress=False)
    [run] = runs(registry)
    assert (run.status, run.seen, run.added) == ("failed", 20, 20)
    assert len(documents(registry)) == 20


def test_a_run_of_a_dead_process_no_longer_holds_the_source(registry: Registry, tmp_path: Path) -> None:
    sync_sources(registry, catalogue_path=write_source(tmp_path, passages(10)))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with registry.session() as s:
        run = IngestRun(source_id=s.scalar(select(Source.id)), status="running", host=__import__("socket").gethostname(),
                        pid=dead.pid, process_started=0.0)
        s.add(run)
    stats = ingest(registry, progress=False)
    assert stats[0].added == 10
    assert [r.status for r in runs(registry)] == ["interrupted", "complete"]


def test_a_holder_on_another_host_needs_break_lock(registry: Registry, tmp_path: Path) -> None:
    from corpus_registry.errors import RegistryError

    sync_sources(registry, catalogue_path=write_source(tmp_path, passages(10)))
    with registry.session() as s:
        s.add(IngestRun(source_id=s.scalar(select(Source.id)), status="running", host="elsewhere.example", pid=4242, process_started=1.0))
    with pytest.raises(RegistryError, match=r"another ingest of this source is running \(pid 4242 on "
                                            r"elsewhere\.example, since .* UTC, run 1\)"):
        ingest(registry, progress=False)
    assert ingest(registry, progress=False, break_lock=True)[0].added == 10
    assert [r.status for r in runs(registry)] == ["interrupted", "complete"]
