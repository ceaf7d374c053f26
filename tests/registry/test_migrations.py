"""Migrations: a populated registry upgrades without losing data, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from corpus_registry.registry.db import engine as db
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.conftest import DATA


def test_upgrade_a_populated_registry(backend: str, make_db_url, tmp_path: Path) -> None:
    reg = Registry(make_db_url(backend))
    db.upgrade(reg.engine, "0001")  # an old registry, before this version's schema
    with reg.engine.begin() as conn:
        conn.execute(text("INSERT INTO settings (key, value) VALUES ('store_url', :v)"),
                     {"v": str(tmp_path / "store")})
    # Populate it with the code of revision 0001's columns only: ingest writes through Core inserts
    # that name every model column, so use the upgraded schema's code path after a raw 0001 insert.
    with reg.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO sources (slug, name, collection, license, license_tier, reader_kind, reader_options,"
            " overrides, base_dir, status, created_at, updated_at) VALUES ('udhr', 'UDHR', 'OpenGovernment',"
            " 'CC-PDM-1.0', 'public_domain', 'text', :opts, '{}', :base, 'active', CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"), {"opts": '{"path": "nltk-udhr/udhr", "glob": "*.txt"}', "base": str(DATA)})
        conn.execute(text(
            "INSERT INTO releases (name, version, spec, registry_state, counts, shards, created_at)"
            " VALUES ('old', '0.1', '{}', 'abc', '{}', '{}', CURRENT_TIMESTAMP)"))
    assert db.current_revision(reg.engine) == "0001"
    assert "executor" not in {c["name"] for c in inspect(reg.engine).get_columns("releases")}

    reg.init()  # upgrade to head
    assert db.current_revision(reg.engine) == db.head_revision()
    reg.check()
    ingest(reg, progress=False)  # the upgraded registry works with today's code
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar() == 40
        assert conn.execute(text("SELECT executor FROM releases WHERE name = 'old'")).scalar() == "local"
        assert conn.execute(text("SELECT slug FROM sources")).scalars().all() == ["udhr"]


def test_upgrade_keeps_ingested_documents(backend: str, make_db_url, tmp_path: Path) -> None:
    """Ingest at head, downgrade one step and upgrade again: every document row survives."""
    reg = Registry(make_db_url(backend))
    reg.init(store=str(tmp_path / "store"))
    cat = tmp_path / "sources.yaml"
    cat.write_text("sources:\n  - slug: genesis\n    name: Genesis\n    collection: OpenCulture\n"
                   "    license: public-domain\n    reader: {allow_outside: true, kind: text, path: "
                   f"{DATA / 'nltk-genesis/genesis'}, glob: '*.txt', encodings: {{swedish.txt: cp865}}}}\n")
    sync_sources(reg, catalogue_path=cat)
    ingest(reg, progress=False)
    query = text("SELECT identifier, sha256, language, word_count FROM documents ORDER BY identifier")
    with reg.engine.connect() as conn:
        before = conn.execute(query).all()
    db.downgrade(reg.engine, "0001")
    assert "workers" not in {c["name"] for c in inspect(reg.engine).get_columns("ingest_runs")}
    reg.init()
    with reg.engine.connect() as conn:
        assert conn.execute(query).all() == before
        assert conn.execute(text("SELECT workers FROM ingest_runs")).scalars().all() == [1]
    assert len(before) == 8


def test_pushes_recorded_before_the_history_start_it(backend: str, make_db_url, tmp_path: Path) -> None:
    reg = Registry(make_db_url(backend))
    db.upgrade(reg.engine, "0002")
    with reg.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO releases (name, version, spec, registry_state, counts, shards, manifest_sha256, hub_repo,"
            " hub_commit, hub_tag, executor, created_at, pushed_at) VALUES ('r', '1', '{}', 'abc', '{}', '{}',"
            " 'm', 'me/r', 'c0ffee', '1', 'local', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    db.upgrade(reg.engine)
    with reg.engine.connect() as conn:
        rows = conn.execute(text("SELECT repo_id, tag, \"commit\", manifest_sha256, noop FROM release_pushes")).all()
    assert [tuple(r) for r in rows] == [("me/r", "1", "c0ffee", "m", False)]
    db.downgrade(reg.engine, "0002")
    assert "release_pushes" not in inspect(reg.engine).get_table_names()


def test_a_newer_registry_says_upgrade_and_is_left_alone(backend: str, make_db_url, tmp_path: Path) -> None:
    """Item 16: every command says "upgrade corpus-registry"; init refuses without touching it."""
    from click.testing import CliRunner

    from corpus_registry.cli import cli

    reg = Registry(make_db_url(backend))
    reg.init(store=str(tmp_path / "store"))
    with reg.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    runner = CliRunner()
    for args in (["stats"], ["init"], ["show", "x"], ["sources", "list"], ["audit", str(tmp_path)],
                 ["demo", "--no-progress"]):
        r = runner.invoke(cli, ["--db", reg.url, *args])
        assert r.exit_code == 2, (args, r.output)
        first = r.output.splitlines()[0]
        assert "is at schema 0099, newer than this corpus-registry knows" in first and "upgrade corpus-registry" in first
        assert "Traceback" not in r.output and "corpus-registry init" not in r.output
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0099"
        assert conn.execute(text("SELECT count(*) FROM sources")).scalar() == 0
def test_upgrade_to_decisions_keeps_what_the_registry_knew(backend: str, make_db_url, tmp_path: Path) -> None:
    """A 0002 registry: a source under review, a catalogue override, a record with its own licence,
    one document under an NFD and an NFC identifier, a withdrawal. At 0003 its history starts with
    those facts, the identifiers are NFC and one document, and the record's licence is declared."""
    import unicodedata

    from corpus_registry.registry.decisions import history, review_queue
    from corpus_registry.registry.lookup import show

    reg = Registry(make_db_url(backend))
    db.upgrade(reg.engine, "0002")
    nfd, nfc = unicodedata.normalize("NFD", "Genèse"), unicodedata.normalize("NFC", "Genèse")
    with reg.engine.begin() as conn:
        conn.execute(text("INSERT INTO settings (key, value) VALUES ('store_url', :v)"), {"v": str(tmp_path / "s")})
        conn.execute(text(
            "INSERT INTO sources (id, slug, name, collection, license, license_tier, review, reader_kind,"
            " reader_options, overrides, status, created_at, updated_at) VALUES (1, 'gen', 'Genesis', 'OpenCulture',"
            " 'CC-PDM-1.0', 'review', 'check the translations', 'text', '{}', :ov, 'active', CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"), {"ov": json.dumps({nfd: {"review": "doubtful"}, "kjv": {"license": "CC0-1.0"}})})
        conn.execute(text("INSERT INTO blobs (sha256, shard, byte_size) VALUES ('a', 's', 1), ('b', 's', 1),"
                          " ('c', 's', 1), ('d', 's', 1)"))
        for i, (ident, license_, sha, when, status) in enumerate([
                (nfd, "CC-PDM-1.0", "a", "2024-01-01", "active"), (nfc, "CC-PDM-1.0", "b", "2024-02-01", "withdrawn"),
                ("kjv", "CC0-1.0", "c", "2024-01-01", "active"), ("web", "CC-BY-4.0", "d", "2024-01-01", "active")],
                start=1):
            conn.execute(text(
                "INSERT INTO documents (id, source_id, identifier, version, is_current, license, license_tier,"
                " language, language_score, mixed_language, word_count, byte_size, sha256, extra, status, created_at)"
                " VALUES (:i, 1, :ident, 1, :cur, :lic, 'public_domain', 'en', 1.0, false, 10, 10, :sha, '{}', :st,"
                " :when)"), {"i": i, "ident": ident, "cur": True, "lic": license_, "sha": sha, "st": status,
                            "when": when})
        conn.execute(text("INSERT INTO withdrawals (source_id, document_identifier, reason, created_at)"
                          " VALUES (1, :ident, 'takedown', CURRENT_TIMESTAMP)"), {"ident": nfd})
    reg.init()
    with reg.engine.connect() as conn:
        rows = conn.execute(text("SELECT identifier, version, is_current, status, sha256, declared_license"
                                 " FROM documents ORDER BY identifier, version")).all()
        assert conn.execute(text("SELECT document_identifier FROM withdrawals")).scalars().all() == [nfc]
    assert [tuple(r) for r in rows] == [
        (nfc, 1, False, "withdrawn", "a", None), (nfc, 2, True, "withdrawn", "b", None),  # one document
        ("kjv", 1, True, "active", "c", None),  # its licence came from the catalogue override
        ("web", 1, True, "active", "d", "CC-BY-4.0")]  # its own record's
    assert [(d.identifier, d.action, d.by, d.to_status) for d in history(reg, source="gen")] == [
        (None, "register", "migration 0003", "review"), (nfc, "review", "migration 0003", "review"),
        ("kjv", "relabel", "migration 0003", "open"), (nfc, "withdraw", "migration 0003", "withdrawn")]
    assert show(reg, "gen/kjv", with_text=False)["license"] == "CC0-1.0"
    # the source's review holds back what carries the source's licence, not a record's own licence
    assert show(reg, "gen/web", with_text=False)["license_tier"] == "attribution"
    assert [i.id for i in review_queue(reg)] == ["gen"]
    with pytest.raises(Exception, match="append-only"), reg.engine.begin() as conn:
        conn.execute(text("DELETE FROM decisions"))
    db.downgrade(reg.engine, "0002")  # and back, cleanly
    assert "decisions" not in inspect(reg.engine).get_table_names()
    reg.init()
    assert len(history(reg, source="gen")) == 4
