"""The web's migration on a populated registry: the search index covers the documents already
there and follows later inserts, edits and deletes; the migration goes down and up again cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from corpus_registry.registry.db import engine as db
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.search import search_documents

WEB_REVISION = "0005"


def before_web() -> str:
    script = ScriptDirectory.from_config(db._alembic_config())
    down = script.get_revision(WEB_REVISION).down_revision
    assert isinstance(down, str)
    return down


def insert(conn, doc_id: int, identifier: str, title: str, creator: str | None = None) -> None:  # noqa: ANN001
    sha = f"{doc_id:064d}"
    conn.execute(text("INSERT INTO blobs (sha256, shard, byte_size) VALUES (:s, 'x', 1)"), {"s": sha})
    conn.execute(text(
        "INSERT INTO documents (id, source_id, identifier, version, is_current, license, license_tier, title, creator,"
        " language, language_score, mixed_language, word_count, byte_size, sha256, extra, status, created_at)"
        " VALUES (:id, 1, :ident, 1, :t, 'CC0-1.0', 'public_domain', :title, :creator, 'fr', 1.0, :f, 10, 1, :sha,"
        " '{}', 'active', CURRENT_TIMESTAMP)"),
        {"id": doc_id, "ident": identifier, "title": title, "creator": creator, "sha": sha, "t": True, "f": False})


def found(registry: Registry, query: str) -> list[str]:
    return [d.identifier for d in search_documents(registry, query=query).items]


def test_search_index_on_a_populated_registry(backend: str, make_db_url, tmp_path: Path) -> None:
    reg = Registry(make_db_url(backend))
    db.upgrade(reg.engine, before_web())
    with reg.engine.begin() as conn:
        conn.execute(text("INSERT INTO settings (key, value) VALUES ('store_url', :v)"), {"v": str(tmp_path)})
        conn.execute(text(
            "INSERT INTO sources (id, slug, name, collection, license, license_tier, reader_kind, reader_options,"
            " overrides, status, created_at, updated_at) VALUES (1, 'old', 'Old', 'OpenWeb', 'CC0-1.0',"
            " 'public_domain', 'text', '{}', '{}', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        insert(conn, 1, "books/zola-1", "Germinal", "Zola, Émile")
        insert(conn, 2, "books/hugo-1", "Les Misérables", "Hugo, Victor")
    reg.init()  # to head: the index is built over what is there
    assert found(reg, "germinal") == ["books/zola-1"]
    assert found(reg, "ZOLA émile") == ["books/zola-1"]
    assert found(reg, "books") == ["books/zola-1", "books/hugo-1"]
    assert found(reg, "misé") == ["books/hugo-1"]  # a prefix, accents kept
    with reg.engine.begin() as conn:
        insert(conn, 3, "books/verne-1", "Vingt mille lieues sous les mers", "Verne, Jules")
        conn.execute(text("UPDATE documents SET title = 'Nana' WHERE id = 1"))
        conn.execute(text("DELETE FROM documents WHERE id = 2"))
        conn.execute(text("UPDATE documents SET status = 'withdrawn' WHERE id = 3"))
    assert found(reg, "lieues") == ["books/verne-1"]
    assert found(reg, "germinal") == [] and found(reg, "nana") == ["books/zola-1"]
    assert found(reg, "hugo") == []

    db.downgrade(reg.engine, before_web())
    tables = set(inspect(reg.engine).get_table_names())
    assert not {t for t in tables if t.startswith(("web_", "documents_fts"))}
    with reg.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar() == 2
    reg.init()
    assert found(reg, "nana") == ["books/zola-1"] and found(reg, "lieues") == ["books/verne-1"]


def test_postgresql_search_uses_its_index(make_db_url) -> None:  # noqa: ANN001
    reg = Registry(make_db_url("postgresql"))
    reg.init(store="/tmp/unused-store")
    with reg.engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT id FROM documents WHERE search_words @@ to_tsquery('simple', 'zola:*')")))
    assert "ix_documents_search" in plan, plan
