"""A build's candidates: the registry rows its selection matches, read once into Arrow columns.

A build holds every candidate's metadata (a million documents at scale) and decides each one's
fate with whole-column operations, so the rows are read through the driver's own cursor (no
per-row ORM work) and kept as Arrow arrays (tens of bytes per document, not a Python object per
field). Texts are never read here.

Each candidate's licence, tier and withdrawal are evaluated here, from the registry's current
decisions (:mod:`corpus_registry.registry.standing`: a document's own decision, else its record's
licence, else its source's) and withdrawals (the document's, its source's, and any withdrawal of
its text under another identifier), in the same read as the rows; the registry-state digest
covers the evaluated values, so any licence decision changes it.
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
from corpus_registry.registry.standing import Standings, evaluate, load_standings, withdrawn_texts

# name → Arrow type of each column, in the order the query returns them
FIELDS: dict[str, pa.DataType] = {
    "id": pa.int64(), "source_id": pa.int64(), "source": pa.string(), "identifier": pa.string(),
    "sha256": pa.string(), "language": pa.string(), "score": pa.float64(), "words": pa.int64(),
    "bytes": pa.int64(), "declared": pa.string(), "status": pa.string(), "date": pa.string(),
    "title": pa.string(), "creator": pa.string(), "url": pa.string(), "collection": pa.string(),
}
# what the registry state digests, per column (the registry ids and the store layout are not
# part of a document's state: two registries holding the same documents have the same state)
_STATE = ("source", "identifier", "sha256", "license", "tier", "status", "language", "score", "words",
          "date", "title", "creator", "url")
_BATCH = 50_000


@dataclass(slots=True)
class Candidates:
    """The candidate table in registry order (source, identifier), plus the digest of what was read
    and the standings its licences were evaluated from."""

    table: pa.Table  # FIELDS, "license", "tier", "shard" (the store shard of the text) and "key" = "source/identifier"
    state: str
    standings: Standings | None = None

    def decision_ids(self, rows: np.ndarray) -> list[int]:
        """The decisions the documents at ``rows`` rest on: their sources' and their own."""
        if self.standings is None or not len(rows):
            return []
        st = self.standings
        ids = {st.sources[sid].decision_id for sid in np.unique(self.numpy("source_id")[rows]).tolist()}
        if st.documents:
            own = {f"{st.slugs[sid]}/{ident}": s.decision_id for (sid, ident), s in st.documents.items()}
            keys = self.table["key"].take(pa.array(rows)).to_pylist()
            ids |= {own[k] for k in keys if k in own}
        return sorted(i for i in ids if i is not None)

    def __len__(self) -> int:
        return self.table.num_rows

    def numpy(self, name: str) -> np.ndarray:
        return self.table.column(name).to_numpy()


def read_candidates(registry: Registry, spec: BuildSpec) -> Candidates:
    """The current documents ``spec.select`` names by source, collection and date (the other
    selection rules are build stages, so that their drops are counted in the funnel)."""
    sel = spec.select
    q = (
        select(Document.id, Document.source_id, Source.slug, Document.identifier, Document.sha256, Document.language,
               Document.language_score, Document.word_count, Document.byte_size, Document.declared_license,
               Document.status, Document.date, Document.title, Document.creator, Document.url, Source.collection)
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
    with registry.engine.connect() as conn, conn.begin():  # one snapshot: rows, decisions, withdrawals
        table = _columns(conn, q, FIELDS)
        table = table.append_column("shard", _shards(conn, table["sha256"]))
        withdrawals = sorted((slug, ident or "", sha or "") for slug, ident, sha in conn.execute(
            select(Source.slug, Withdrawal.document_identifier, Withdrawal.sha256)
            .join(Source, Source.id == Withdrawal.source_id)))
        standings = load_standings(conn)
        texts = withdrawn_texts(conn)
    table = table.append_column("key", pc.binary_join_element_wise(table["source"], table["identifier"], "/"))
    license_, tier = _licences(table, standings)
    table = table.append_column("license", license_).append_column("tier", tier)
    table = table.set_column(table.schema.get_field_index("status"), "status", _status(table, standings, texts))
    state = hashlib.sha256()
    for name in _STATE:
        state.update(f"{name}={_digest(table[name].combine_chunks())}\n".encode())
    state.update(hashlib.sha256(repr(withdrawals).encode()).digest())
    pa.default_memory_pool().release_unused()  # the batches read: hundreds of MB at a million rows
    return Candidates(table=table, state=state.hexdigest(), standings=standings)


def _licences(table: pa.Table, standings: Standings) -> tuple[pa.Array, pa.Array]:
    """Each row's licence and tier today. Rows without a decision of their own are evaluated once
    per (source, declared licence) group; the few with one, one by one."""
    declared = table["declared"].combine_chunks().dictionary_encode()
    labels = declared.dictionary.to_pylist()
    codes = np.asarray(declared.indices.fill_null(-1), dtype=np.int64) + 1
    group = table["source_id"].to_numpy() * (len(labels) + 1) + codes
    keys, inverse = np.unique(group, return_inverse=True)
    verdicts = [evaluate(declared=labels[code - 1] if code else None, source=standings.sources[sid])
                for sid, code in (divmod(int(k), len(labels) + 1) for k in keys)]
    license_ = np.array([v.license for v in verdicts], dtype=object)[inverse]
    tier = np.array([v.tier.value for v in verdicts], dtype=object)[inverse]
    if standings.documents:
        own = {f"{standings.slugs[sid]}/{ident}": (sid, s) for (sid, ident), s in standings.documents.items()}
        where = pc.index_in(table["key"], value_set=pa.array(sorted(own), pa.string()))
        for row in np.flatnonzero(np.asarray(pc.is_valid(where))).tolist():
            sid, st = own[table["key"][row].as_py()]
            v = evaluate(declared=table["declared"][row].as_py(), source=standings.sources[sid], document=st)
            license_[row], tier[row] = v.license, v.tier.value
    return pa.array(license_, pa.string()), pa.array(tier, pa.string())


def _status(table: pa.Table, standings: Standings, texts: dict[str, str]) -> pa.Array:
    """``withdrawn`` for a document withdrawn itself, through its source, or through its text."""
    status = table["status"].combine_chunks()
    active = np.asarray(pc.fill_null(pc.equal(status, "active"), False))
    out = ~active
    gone = [sid for sid, st in standings.source_status.items() if st != "active"]
    if gone:
        out |= np.asarray(pc.is_in(table["source_id"], value_set=pa.array(gone, pa.int64())))
    if texts:
        out |= np.asarray(pc.is_in(table["sha256"], value_set=pa.array(sorted(texts), pa.string())))
    # no Python string per row: the column is rewritten in Arrow
    return pc.if_else(pa.array(out & active), pa.scalar("withdrawn", pa.string()), status)


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
    columns = {}
    for name, type_ in fields.items():  # one column at a time: the batches of the others are not copied meanwhile
        chunk = chunks.pop(0)
        columns[name] = pa.chunked_array(chunk, type=type_).combine_chunks()
        del chunk
    return pa.table(columns)


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
