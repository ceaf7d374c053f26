"""Registration and ingest on real documents, against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry import lookup
from corpus_registry.registry.db.models import Document, IngestRun, Source
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import list_sources, sync_sources

from tests.conftest import DATA

BOILERPLATE = ("Project Gutenberg", "PROJECT GUTENBERG", "Small Print", "SMALL PRINT", "*** START")


def write_catalogue(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def snapshot(reg: Registry) -> list[tuple]:
    """Everything that defines the registry's content (ids and timestamps excluded)."""
    with reg.session() as s:
        rows = s.execute(
            select(Document.identifier, Document.version, Document.is_current, Document.sha256,
                   Document.language, Document.license, Document.license_tier, Document.word_count,
                   Document.status).order_by(Document.identifier, Document.version)
        ).all()
    return [tuple(r) for r in rows]


# --- the bundled demo registry -------------------------------------------------------------------

def test_demo_sources_languages_and_tiers(demo_registry: Registry) -> None:
    rows = {r.slug: r for r in list_sources(demo_registry)}
    assert {k: v.documents for k, v in rows.items()} == {
        "gutenberg-fr": 9, "gutenberg-en-de-es-it": 6, "gutenberg-variants": 3,
        "legifrance-code-civil": 833, "nltk-genesis": 8, "nltk-udhr": 40,
    }
    with demo_registry.session() as s:
        fr_books = s.execute(
            select(Document.identifier, Document.language, Document.license_tier)
            .where(Document.path.like("pg%"), Document.identifier.like("pg%"))
        ).all()
        civil = s.execute(
            select(Document.language, Document.license, Document.license_tier, func.count())
            .join(Source, Source.id == Document.source_id).where(Source.slug == "legifrance-code-civil")
            .group_by(Document.language, Document.license, Document.license_tier)
        ).all()
    by_id = {i: (lang, tier) for i, lang, tier in fr_books}
    for pg in ("pg800", "pg3456", "pg4650", "pg5711", "pg17489", "pg13951", "pg10746", "pg11131", "pg799"):
        assert by_id[pg] == ("fr", "public_domain"), pg
    assert civil == [("fr", "etalab-2.0", "attribution", 833)]


def test_doubtful_bible_translations_are_not_cleared(demo_registry: Registry) -> None:
    for ident in ("finnish", "lolcat", "portuguese"):
        rec = lookup.show(demo_registry, f"nltk-genesis/{ident}", with_text=False)
        assert rec["license_tier"] == "review", ident
        assert rec["review"]
    for ident, lang in (("french", "fr"), ("english-kjv", "en"), ("swedish", "sv"), ("german", "de")):
        rec = lookup.show(demo_registry, f"nltk-genesis/{ident}", with_text=False)
        assert rec["license_tier"] == "public_domain", ident
        assert rec["language"] == lang


@pytest.mark.parametrize("ident", ["pg800", "pg3456", "pg4650", "pg799", "pg6651", "pg11", "pg22367"])
def test_gutenberg_text_has_no_boilerplate_and_correct_accents(demo_registry: Registry, ident: str) -> None:
    rec = lookup.show(demo_registry, ident)
    text = rec["text"]
    for marker in BOILERPLATE:
        assert marker not in text, (ident, marker)
    assert "\ufffd" not in text and "Ã©" not in text and "Ã" not in text
    assert "\r" not in text
    if rec["language"] == "fr":
        assert "é" in text and "à" in text
    if rec["language"] == "de":
        assert "ü" in text or "ä" in text


def test_verne_text_starts_and_ends_with_the_novel(demo_registry: Registry) -> None:
    text = lookup.show(demo_registry, "pg800")["text"]
    assert "En l'année 1872, la maison portant le numéro 7 de Saville-row" in text
    assert text.rstrip().endswith("FIN")
    swedish = lookup.show(demo_registry, "nltk-genesis/swedish")["text"]
    assert "Gud" in swedish and "å" in swedish and "ä" in swedish


def test_stats_adds_up(demo_registry: Registry) -> None:
    data = lookup.stats(demo_registry)
    assert data["totals"]["documents"] == 899
    assert sum(r["documents"] for r in data["by_language"]) == 899
    assert sum(r["words"] for r in data["by_license_tier"]) == data["totals"]["words"]
    tiers = {r["license_tier"]: r["documents"] for r in data["by_license_tier"]}
    assert tiers == {"public_domain": 63, "attribution": 833, "review": 3}


# --- idempotence, versions, resume ---------------------------------------------------------------

SMALL = """
sources:
  - slug: civil
    name: Code civil
    collection: OpenGovernment
    license: etalab-2.0
    attribution: Légifrance
    reader: {kind: markdown, path: civil, glob: "**/*.md"}
  - slug: books
    name: Some books
    collection: OpenCulture
    license: public-domain
    reader: {kind: gutenberg, path: books, glob: "*/*.txt"}
"""


@pytest.fixture
def small_catalogue(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "legifrance-code-civil/code-civil/livre-ier-des-personnes", tmp_path / "civil")
    for book in ("pg4650-candide", "pg10746-boule-de-suif"):
        shutil.copytree(DATA / "gutenberg-fr" / book, tmp_path / "books" / book)
    return write_catalogue(tmp_path, SMALL)


def test_ingest_twice_is_idempotent(registry: Registry, small_catalogue: Path) -> None:
    sync_sources(registry, catalogue_path=small_catalogue)
    first = ingest(registry, progress=False)
    before = snapshot(registry)
    second = ingest(registry, progress=False)
    assert snapshot(registry) == before
    assert sum(r.added for r in first) == 827 and sum(r.added for r in second) == 0
    assert sum(r.unchanged for r in second) == 827
    result = sync_sources(registry, catalogue_path=small_catalogue)
    assert result.unchanged == ["civil", "books"] and not result.added


def test_every_batch_of_an_ingest_goes_through_one_sqlite_connection(tmp_path: Path, small_catalogue: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite keeps its page cache per connection, and a write through one connection makes every other
    one's stale: an ingest whose batches took the pool's connections in turn re-read its indexes every
    batch and held a 32 MB cache per connection (the store is looked up in a session of its own)."""
    monkeypatch.setenv("CORPUS_REGISTRY_BATCH_DOCS", "50")  # 827 documents: 17 batches
    reg = Registry(str(tmp_path / "registry.db"))
    reg.init(store=str(tmp_path / "store"))
    sync_sources(reg, catalogue_path=small_catalogue)
    reg = Registry(reg.url)  # as a new process would: the store not looked up yet
    writers: list[int] = []

    @event.listens_for(reg.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO documents"):
            writers.append(id(conn.connection.driver_connection))

    ingest(reg, progress=False)
    assert len(writers) >= 17 and len(set(writers)) == 1
    reg.dispose()


def test_changed_text_becomes_a_new_version(registry: Registry, small_catalogue: Path) -> None:
    sync_sources(registry, catalogue_path=small_catalogue)
    ingest(registry, progress=False)
    article = next((small_catalogue.parent / "civil").rglob("*.md"))
    ident = article.relative_to(small_catalogue.parent / "civil").with_suffix("").as_posix()
    old = lookup.show(registry, f"civil/{ident}")
    article.write_text(article.read_text(encoding="utf-8") + "\nAlinéa ajouté.\n", encoding="utf-8")
    stats = ingest(registry, ["civil"], progress=False)[0]
    assert (stats.added, stats.updated) == (0, 1)
    new = lookup.show(registry, f"civil/{ident}")
    assert new["version"] == 2 and new["sha256"] != old["sha256"]
    assert new["text"].endswith("Alinéa ajouté.")
    assert [v["sha256"] for v in new["versions"]] == [old["sha256"], new["sha256"]]
    # the old text is still in the store (no overwrite)
    with registry.session() as s:
        assert s.scalar(select(func.count()).where(Document.identifier == ident)) == 2


def test_metadata_override_updates_without_new_version(registry: Registry, small_catalogue: Path) -> None:
    sync_sources(registry, catalogue_path=small_catalogue)
    ingest(registry, progress=False)
    small_catalogue.write_text(SMALL + """    documents:
      pg4650:
        review: "checking the edition's status"
""", encoding="utf-8")
    sync_sources(registry, catalogue_path=small_catalogue)
    ingest(registry, ["books"], progress=False)
    rec = lookup.show(registry, "pg4650", with_text=False)
    assert rec["license_tier"] == "review" and rec["version"] == 1


def test_killed_ingest_resumes_to_the_same_registry(backend: str, make_db_url, small_catalogue: Path,
                                                    tmp_path: Path) -> None:
    """SIGKILL an ingest (2 workers) mid-way, re-run it: same registry as an uninterrupted ingest."""
    reference = Registry(make_db_url(backend))
    reference.init(store=str(tmp_path / "ref-store"))
    sync_sources(reference, catalogue_path=small_catalogue)
    ingest(reference, progress=False)

    url = make_db_url(backend)
    killed = Registry(url)
    killed.init(store=str(tmp_path / "killed-store"))
    sync_sources(killed, catalogue_path=small_catalogue)
    env = {**os.environ, "CORPUS_REGISTRY_BATCH_DOCS": "5"}  # many small commits: a wide window to kill in
    cmd = [sys.executable, "-m", "corpus_registry.cli", "--db", url, "ingest", "--no-progress",
           "--workers", "2", "civil"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 60
    committed = 0
    while time.time() < deadline and proc.poll() is None:
        with killed.session() as s:
            committed = s.scalar(select(func.count()).select_from(Document)) or 0
        if committed >= 100:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole job: parent and its worker processes
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"
    assert 100 <= committed < 825
    with killed.session() as s:
        run = s.scalars(select(IngestRun)).all()[-1]
        assert run.finished_at is None  # the killed run is visibly unfinished
    ingest(killed, progress=False)
    assert snapshot(killed) == snapshot(reference)


# --- bad input -----------------------------------------------------------------------------------

def test_unknown_licence_is_rejected_with_source_and_value(registry: Registry, tmp_path: Path) -> None:
    cat = write_catalogue(tmp_path, SMALL.replace("etalab-2.0", "etalab-9.9"))
    with pytest.raises(ConfigError, match=r"sources\[civil\]\.license: .*etalab-9.9"):
        sync_sources(registry, catalogue_path=cat)
    assert list_sources(registry) == []


def test_invalid_catalogue_writes_nothing(registry: Registry, small_catalogue: Path, tmp_path: Path) -> None:
    sync_sources(registry, catalogue_path=small_catalogue)
    bad = write_catalogue(tmp_path, SMALL.replace("name: Some books", "name: Renamed") +
                          "  - slug: broken\n    name: x\n    collection: Nowhere\n    license: MIT\n"
                          "    reader: {kind: text, path: x}\n")
    with pytest.raises(ConfigError, match=r"sources\[broken\]\.collection"):
        sync_sources(registry, catalogue_path=bad)
    assert {r.name for r in list_sources(registry)} == {"Code civil", "Some books"}


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("sources:\n  - slug: a\n   name: [x\n", r"sources\.yaml:\d+: malformed YAML"),
        (SMALL.replace("collection: OpenCulture", "collection: OpenCulture\n    colour: red"),
         r"sources\[books\]\.colour: Extra inputs are not permitted"),
        (SMALL.replace("kind: gutenberg", "kind: epub"), r"sources\[books\]\.reader: .*epub"),
        (SMALL + SMALL.split("sources:\n")[1], r"duplicate source slug 'civil'"),
    ],
)
def test_catalogue_errors_name_file_and_field(registry: Registry, tmp_path: Path, body: str, pattern: str) -> None:
    cat = write_catalogue(tmp_path, body)
    with pytest.raises(ConfigError, match=pattern):
        sync_sources(registry, catalogue_path=cat)


def test_missing_folder_empty_document_and_bad_encoding(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("Une phrase française assez longue pour être lue.", encoding="utf-8")
    (tmp_path / "texts" / "b.txt").write_bytes("Déjà vu, à la française.".encode("latin-1"))
    cat = write_catalogue(tmp_path, """
sources:
  - slug: texts
    name: Texts
    collection: OpenWeb
    license: CC-BY-4.0
    reader: {kind: text, path: texts, encoding: utf-8}
  - slug: gone
    name: Missing
    collection: OpenWeb
    license: CC-BY-4.0
    reader: {kind: text, path: nowhere}
""")
    sync_sources(registry, catalogue_path=cat)
    with pytest.raises(ReaderError, match=r"b\.txt"):
        ingest(registry, ["texts"], progress=False)
    with pytest.raises(ReaderError, match="nowhere"):
        ingest(registry, ["gone"], progress=False)
    (tmp_path / "texts" / "b.txt").write_text("   \n\n  ", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"b\.txt|empty"):
        ingest(registry, ["texts"], progress=False)


def test_duplicate_identifier_registers_nothing_of_the_batch(registry: Registry, tmp_path: Path) -> None:
    lines = [{"id": "doc-1", "text": "Le premier texte du lot, en français."},
             {"id": "doc-2", "text": "Le deuxième texte du lot, en français."},
             {"id": "doc-1", "text": "Un autre texte avec le même identifiant."}]
    (tmp_path / "records.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines),
                                            encoding="utf-8")
    cat = write_catalogue(tmp_path, """
sources:
  - slug: records
    name: Records
    collection: OpenWeb
    license: CC0-1.0
    reader: {kind: jsonl, path: records.jsonl}
""")
    sync_sources(registry, catalogue_path=cat)
    with pytest.raises(ReaderError, match="duplicate identifier 'doc-1'"):
        ingest(registry, progress=False)
    with registry.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_record_claiming_a_more_permissive_licence_goes_to_review(registry: Registry, tmp_path: Path) -> None:
    lines = [{"id": "a", "text": "Texte publié sous licence CC-BY-SA selon la source.", "license": "CC0-1.0"},
             {"id": "b", "text": "Autre texte de la même source, sans licence propre."}]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    cat = write_catalogue(tmp_path, """
sources:
  - slug: sa
    name: Share-alike records
    collection: OpenWeb
    license: CC-BY-SA-4.0
    reader: {kind: jsonl, path: r.jsonl, license_field: license}
""")
    sync_sources(registry, catalogue_path=cat)
    # a declared licence field is a promise: a record without a licence is an error, not the source's
    with pytest.raises(ReaderError, match=r"r\.jsonl:2: no licence in field 'license'"):
        ingest(registry, progress=False)
    lines[1]["license"] = "CC BY-SA 4.0"
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    ingest(registry, progress=False)
    a = lookup.show(registry, "sa/a", with_text=False)
    b = lookup.show(registry, "sa/b", with_text=False)
    assert a["license"] == "CC0-1.0" and a["license_tier"] == "review" and "more permissive" in a["review"]
    assert b["license"] == "CC-BY-SA-4.0" and b["license_tier"] == "share_alike"


def test_the_parent_of_ingest_workers_loads_no_language_model(registry: Registry, small_catalogue: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With workers, only they identify languages: the parent does not load the models (~90 MB of a
    2-worker ingest's memory); a backend's name is still checked before anything is written."""
    import corpus_registry.registry.ingest as ingest_module
    from corpus_registry.errors import ConfigError

    sync_sources(registry, catalogue_path=small_catalogue)
    with pytest.raises(ConfigError, match="unknown language-id backend 'nope'"):
        ingest(registry, progress=False, workers=2, langid="nope")

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the parent loaded a language model")

    monkeypatch.setattr(ingest_module, "get_identifier", refuse)  # in this process only: workers are spawned
    stats = ingest(registry, progress=False, workers=2)
    assert sum(s.added for s in stats) == 827


def test_two_workers_give_the_same_registry(backend: str, make_db_url, small_catalogue: Path,
                                            tmp_path: Path) -> None:
    regs = []
    for workers in (1, 2):
        reg = Registry(make_db_url(backend))
        reg.init(store=str(tmp_path / f"store-{workers}"))
        sync_sources(reg, catalogue_path=small_catalogue)
        stats = ingest(reg, progress=False, workers=workers)
        assert sum(s.added for s in stats) == 827
        regs.append(reg)
    assert snapshot(regs[0]) == snapshot(regs[1])
    again = ingest(regs[1], progress=False, workers=2)  # idempotent with workers too
    assert sum(s.unchanged for s in again) == 827
    assert snapshot(regs[0]) == snapshot(regs[1])
