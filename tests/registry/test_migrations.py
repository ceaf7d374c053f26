"""Migrations: a populated registry upgrades without losing data, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

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
                   "    license: public-domain\n    reader: {kind: text, path: "
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
