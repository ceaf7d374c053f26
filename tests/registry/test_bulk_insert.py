"""Rows inserted in few statements are the rows a Core insert stores, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from corpus_registry.registry.bulk_insert import insert_rows
from corpus_registry.registry.db.models import Blob, Document, Source
from corpus_registry.registry.registry import Registry

DOCUMENTS: Table = Document.__table__  # type: ignore[assignment]
BLOBS: Table = Blob.__table__  # type: ignore[assignment]


def _source(reg: Registry) -> int:
    with reg.session() as s:
        source = Source(slug="s", name="S", collection="OpenCulture", license="CC0-1.0", license_tier="open",
                        reader_kind="text")
        s.add(source)
        s.flush()
        return source.id


def _rows(source_id: int, n: int, version: int) -> list[dict[str, Any]]:
    # every column type of a document row: JSON, DateTime, booleans, floats, NULLs, non-ASCII text
    return [{
        "source_id": source_id, "identifier": f"doc-{i}/été", "version": version, "is_current": i % 2 == 0,
        "license": "CC0-1.0", "license_tier": "open", "review": None, "declared_license": None,
        "title": f"Titre « {i} »" if i % 3 else None, "creator": None, "date": "1880", "url": None,
        "path": "a.txt", "language": "fr", "language_score": 0.98765, "mixed_language": i % 5 == 0,
        "word_count": i, "byte_size": 10 * i, "sha256": f"{i:064x}", "extra": {"line": i, "k": ["v", None]},
        "status": "active", "ingest_run_id": None,
        "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, 678901),
    } for i in range(n)]


def _stored(reg: Registry, version: int) -> list[tuple[Any, ...]]:
    with reg.session() as s:
        return [tuple(r)[1:] for r in s.execute(select(DOCUMENTS).where(DOCUMENTS.c.version == version)
                                                .order_by(DOCUMENTS.c.id))]


def test_rows_equal_those_of_a_core_insert(registry: Registry) -> None:
    sid = _source(registry)
    n = 1234  # more rows than one statement holds
    with registry.session() as s:
        insert_rows(s, BLOBS, [{"sha256": f"{i:064x}", "shard": "x", "byte_size": 1} for i in range(n)])
        s.execute(insert(DOCUMENTS), _rows(sid, n, version=1))
        insert_rows(s, DOCUMENTS, _rows(sid, n, version=2))
    core, ours = _stored(registry, 1), _stored(registry, 2)
    assert len(ours) == n
    assert [r[:2] + r[3:] for r in ours] == [r[:2] + r[3:] for r in core]  # all but the version


def test_conflicts_are_skipped_only_when_asked(registry: Registry) -> None:
    blobs = [{"sha256": f"{i:064x}", "shard": "a", "byte_size": i} for i in range(3)]
    with registry.session() as s:
        insert_rows(s, BLOBS, blobs[:2])
    with registry.session() as s:  # one already there: skipped, the others added, the first kept as it was
        insert_rows(s, BLOBS, [{**b, "shard": "b"} for b in blobs], ignore_conflicts=True)
    with registry.session() as s:
        assert sorted(s.execute(select(Blob.sha256, Blob.shard))) == [
            (blobs[0]["sha256"], "a"), (blobs[1]["sha256"], "a"), (blobs[2]["sha256"], "b")]
    with registry.session() as s:
        with pytest.raises(IntegrityError):
            insert_rows(s, BLOBS, blobs[2:])
        s.rollback()
    with registry.session() as s:
        s.execute(delete(Blob))
        insert_rows(s, BLOBS, [])  # nothing to do
        assert s.scalars(select(Blob.sha256)).all() == []
