"""Rows inserted in few statements are the rows a Core insert stores, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from corpus_registry.registry.bulk_insert import insert_rows, insert_values
from corpus_registry.registry.db.models import Blob, Document, Release, ReleaseDocument, Source
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


FATES: Table = ReleaseDocument.__table__  # type: ignore[assignment]
FATE_COLUMNS = ("release_id", "document_id", "status", "stage", "reason", "duplicate_of", "similarity")
_texts = st.none() | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=40)
_fate = st.tuples(st.sampled_from(["kept", "dropped"]), _texts, _texts,
                  st.none() | st.integers(-2**31, 2**31 - 1),
                  st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32))


def _releases(reg: Registry, n: int) -> tuple[int, int, list[int]]:
    """Two releases and ``n`` documents to record fates of."""
    sid = _source(reg)
    with reg.session() as s:
        insert_rows(s, BLOBS, [{"sha256": f"{i:064x}", "shard": "x", "byte_size": 1} for i in range(n)])
        insert_rows(s, DOCUMENTS, _rows(sid, n, version=1))
        ids = list(s.scalars(select(DOCUMENTS.c.id).order_by(DOCUMENTS.c.id)))
        releases = [Release(name="r", version=v, spec={}, registry_state="0" * 64) for v in ("1", "2")]
        s.add_all(releases)
        s.flush()
        return releases[0].id, releases[1].id, ids


def _fates(reg: Registry, release_id: int) -> list[tuple[Any, ...]]:
    with reg.session() as s:
        return [tuple(r)[1:] for r in s.execute(select(FATES).where(FATES.c.release_id == release_id)
                                                .order_by(FATES.c.document_id))]


@pytest.mark.parametrize("n", [1, 499, 1234])  # below, at and across a statement's rows
def test_values_inserted_in_few_statements_equal_executemany(registry: Registry, n: int) -> None:
    """A build's fates go in through :func:`insert_values`: the rows stored are those of executemany."""
    core, ours, ids = _releases(registry, n)
    fates = [(i, "dropped" if i % 3 else "kept", f"filter:{i % 4}" if i % 3 else None, "l'été « x »" if i % 5 else None,
              ids[0] if i % 7 == 0 else None, round(i / n, 4) if i % 2 else None) for i in ids]
    with registry.session() as s:
        s.execute(insert(FATES), [dict(zip(FATE_COLUMNS, (core, *f))) for f in fates])
        insert_values(s.connection(), FATES, FATE_COLUMNS, [(ours, *f) for f in fates])
    assert len(_fates(registry, ours)) == n
    assert _fates(registry, ours) == _fates(registry, core)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_fate, min_size=1, max_size=40))
def test_any_values_read_back_as_written(registry: Registry, values: list[tuple[Any, ...]]) -> None:
    """Hostile text (quotes, SQL, any script), NULLs, extreme integers and floats go in as parameters."""
    with registry.session() as s:
        s.execute(delete(FATES))
        s.execute(delete(DOCUMENTS))
        s.execute(delete(BLOBS))
        s.execute(delete(Release.__table__))
        s.execute(delete(Source.__table__))
    release_id, _, ids = _releases(registry, len(values))
    with registry.session() as s:
        insert_values(s.connection(), FATES, FATE_COLUMNS, [(release_id, i, *v) for i, v in zip(ids, values)])
    got = _fates(registry, release_id)
    assert [r[1:5] for r in got] == [v[:4] for v in values]
    assert all(r[5] == pytest.approx(v[4], rel=1e-6) if v[4] is not None else r[5] is None for r, v in zip(got, values))
