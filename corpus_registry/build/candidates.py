"""A build's candidates: the registry rows its selection matches, read once into Arrow columns.

A build holds every candidate's metadata (a million documents at scale) and decides each one's
fate with whole-column operations, so the rows are read through the driver's own cursor (no
per-row ORM work) and kept as Arrow arrays (tens of bytes per document, not a Python object per
field). Texts are never read here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Select, func, select

from corpus_registry.build.spec import BuildSpec
from corpus_registry.registry.db.models import Blob, Document, Source, Withdrawal
from corpus_registry.registry.registry import Registry

# name → Arrow type of each column, in the order the query returns them
FIELDS: dict[str, pa.DataType] = {
    "id": pa.int64(), "source": pa.string(), "identifier": pa.string(), "sha256": pa.string(),
    "language": pa.string(), "score": pa.float64(), "words": pa.int64(), "bytes": pa.int64(),
    "license": pa.string(), "tier": pa.string(), "status": pa.string(), "date": pa.string(),
    "title": pa.string(), "creator": pa.string(), "url": pa.string(), "collection": pa.string(),
}
# what the registry state digests, per column (the registry ids and the store layout are not
# part of a document's state: two registries holding the same documents have the same state)
_STATE = ("source", "identifier", "sha256", "license", "tier", "status", "language", "score", "words",
          "date", "title", "creator", "url")
_BATCH = 50_000


@dataclass(slots=True)
class Candidates:
    """The candidate table in registry order (source, identifier), plus the digest of what was read."""

    table: pa.Table  # FIELDS, "shard" (the store shard of the text) and "key" = "source/identifier"
    state: str

    def __len__(self) -> int:
        return self.table.num_rows

    def numpy(self, name: str) -> np.ndarray:
        return self.table.column(name).to_numpy()


def read_candidates(registry: Registry, spec: BuildSpec) -> Candidates:
    """The current documents ``spec.select`` names by source, collection and date (the other
    selection rules are build stages, so that their drops are counted in the funnel)."""
    sel = spec.select
    q = (
        select(Document.id, Source.slug, Document.identifier, Document.sha256, Document.language,
               Document.language_score, Document.word_count, Document.byte_size, Document.license,
               Document.license_tier, Document.status, Document.date, Document.title, Document.creator,
               Document.url, Source.collection)
        .join(Source, Source.id == Document.source_id)
        .where(Document.is_current.is_(True))
        .order_by(Source.slug, Document.identifier)
    )
    if sel.sources:
        q = q.where(Source.slug.in_(sel.sources))
    if sel.collections:
        q = q.where(Source.collection.in_([c.value for c in sel.collections]))
    if sel.date_from:
        q = q.where(Document.date >= sel.date_from)
    if sel.date_to:
        q = q.where(Document.date <= sel.date_to + "\uffff")
    with registry.engine.connect() as conn:
        table = _columns(conn, q, FIELDS)
        table = table.append_column("shard", _shards(conn, table["sha256"]))
        withdrawals = sorted((slug, ident or "") for slug, ident in conn.execute(
            select(Source.slug, Withdrawal.document_identifier).join(Source, Source.id == Withdrawal.source_id)))
    table = table.append_column("key", pc.binary_join_element_wise(table["source"], table["identifier"], "/"))
    state = hashlib.sha256()
    for name in _STATE:
        state.update(f"{name}={_digest(table[name].combine_chunks())}\n".encode())
    state.update(repr(withdrawals).encode())
    pa.default_memory_pool().release_unused()  # the batches read: hundreds of MB at a million rows
    return Candidates(table=table, state=state.hexdigest())


def _shards(conn: Connection, sha256: pa.ChunkedArray) -> pa.Array:
    """The store shard of each text. A large selection reads the whole blob table in one scan and
    matches it in Arrow (a join in SQL looks up every row in the blob index: twice the time);
    a small one looks its blobs up."""
    total = conn.execute(select(func.count()).select_from(Blob)).scalar_one()
    fields = {"sha256": pa.string(), "shard": pa.string()}
    if 4 * len(sha256) >= total:
        blobs = _columns(conn, select(Blob.sha256, Blob.shard), fields)
    else:
        wanted = pc.unique(sha256).to_pylist()
        blobs = pa.concat_tables([pa.schema(fields).empty_table(), *(
            _columns(conn, select(Blob.sha256, Blob.shard).where(Blob.sha256.in_(wanted[i:i + 500])), fields)
            for i in range(0, len(wanted), 500))])
    return blobs["shard"].take(pc.index_in(sha256, value_set=blobs["sha256"]))


def _columns(conn: Connection, query: Select, fields: dict[str, pa.DataType]) -> pa.Table:
    """``query``'s rows as Arrow columns ``fields``, read a batch at a time from the driver's own
    cursor (server-side on PostgreSQL, so memory holds one batch of rows): every column selected
    here is a plain string or number, which the driver already returns as the right Python type."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    driver = conn.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor(name="corpus_registry_read") if conn.dialect.name == "postgresql" else driver.cursor()
    chunks: list[list[pa.Array]] = [[] for _ in fields]
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(_BATCH):
            for chunk, type_, values in zip(chunks, fields.values(), zip(*rows)):
                chunk.append(pa.array(values, type=type_))
    finally:
        cursor.close()
    return pa.table({name: pa.chunked_array(chunk, type=type_).combine_chunks()
                     for (name, type_), chunk in zip(fields.items(), chunks)})


def _digest(column: pa.Array) -> str:
    """sha256 of a column's values (its nulls, value lengths and bytes): equal values, equal digest,
    whichever backend they were read from."""
    h = hashlib.sha256(np.asarray(column.is_null()).tobytes())
    if pa.types.is_string(column.type):
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset:column.offset + len(column) + 1]
        h.update(np.diff(offsets).tobytes())
        data = column.buffers()[2]
        if data is not None:
            h.update(memoryview(data)[offsets[0]:offsets[-1]])
    else:
        h.update(column.fill_null(0).to_numpy().astype("<f8" if pa.types.is_floating(column.type) else "<i8").tobytes())
    return h.hexdigest()
