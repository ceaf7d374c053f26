"""A build's candidates: the registry rows its selection matches, read a page at a time.

A build decides every candidate's fate with whole-column operations, so the rows are read
through the driver's own cursor (server-side on PostgreSQL; no per-row ORM work) a page at a
time, and what the decisions need is kept in lean columns: numbers, the text's sha256 as 32
bytes, and the few low-cardinality strings (language, date, licence, tier, store shard) as
codes into one sorted dictionary each, about 80 bytes a document. The strings only the written
files need (identifier, title, creator, url, source, collection) go to :class:`SideColumns`:
kept in memory, or, within a memory budget, written to an Arrow file and read back by row.

Rows come in key order (``source/identifier``, byte order): the row number is the key's rank,
so no key string is held. Each page's licences, tiers and withdrawals are evaluated from the
registry's current decisions (:mod:`corpus_registry.registry.standing`) and handed to the caller
(``on_page``) before the page is slimmed, with every read in one snapshot of the registry; the
registry-state digest covers the evaluated values, so any licence decision changes it.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Select, func, select

from corpus_registry.build.spec import BuildSpec
from corpus_registry.errors import BuildError
from corpus_registry.registry.db.models import Blob, Document, Source, Withdrawal
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.standing import Standings, evaluate, load_standings, withdrawn_texts

# name → Arrow type of each column the query returns, in its order
FIELDS: dict[str, pa.DataType] = {
    "id": pa.int64(), "source_id": pa.int64(), "identifier": pa.string(), "sha256": pa.string(),
    "language": pa.string(), "score": pa.float64(), "words": pa.int64(), "bytes": pa.int64(),
    "declared": pa.string(), "status": pa.string(), "date": pa.string(), "title": pa.string(),
    "creator": pa.string(), "url": pa.string(),
}
#: the strings only the written files need (held aside, see :class:`SideColumns`)
SIDE = ("identifier", "title", "creator", "url", "source", "collection")
#: lean columns stored as codes into one sorted dictionary (code order = value order)
CODED = ("shard", "language", "date", "license", "tier")
# what the registry state digests, per column (the registry ids and the store layout are not
# part of a document's state: two registries holding the same documents have the same state)
_STATE = ("source", "identifier", "sha256", "license", "tier", "status", "language", "score", "words",
          "date", "title", "creator", "url")
PAGE = 20_000
_CACHED_PAGES = 4  # side pages kept after reading (a shard's rows and the keys they point to)


class _Codes:
    """A string column as int32 codes into one dictionary (-1: null), written page by page into
    an array allocated once (no second copy when the pages are joined)."""

    def __init__(self, capacity: int) -> None:
        self.index: dict[str, int] = {}
        self.codes = np.empty(capacity, dtype=np.int16)  # widened once, if the dictionary outgrows it

    def add(self, at: int, column: pa.Array) -> None:
        encoded = column.dictionary_encode()
        local = np.array([self.index.setdefault(v, len(self.index)) for v in encoded.dictionary.to_pylist()]
                         + [-1], dtype=np.int32)
        if len(self.index) > np.iinfo(self.codes.dtype).max:
            self.codes = self.codes.astype(np.int32)
        self.codes[at:at + len(column)] = local[np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)]

    def finish(self, size: int) -> tuple[np.ndarray, list[str]]:
        """(codes, dictionary) with the dictionary sorted, so that codes sort as their values do."""
        values = sorted(self.index)
        remap = np.empty(len(self.index) + 1, dtype=self.codes.dtype)
        remap[[self.index[v] for v in values]] = np.arange(len(values), dtype=self.codes.dtype)
        remap[-1] = -1
        codes = self.codes[:size]
        codes[:] = remap[codes]
        self.index = {}
        return codes, values


class SideColumns:
    """The :data:`SIDE` columns of every candidate in row order: in memory, or, with ``path``,
    in an Arrow IPC file there (one record batch per page) read back a batch at a time."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._pages: list[pa.Table] = []
        self._starts: list[int] = [0]
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._reader: pa.ipc.RecordBatchFileReader | None = None
        self._file: Any = None
        self._cached: dict[int, pa.RecordBatch] = {}  # the last pages read, newest last
        self.schema = pa.schema([(name, pa.string()) for name in SIDE])

    def append(self, page: pa.Table) -> None:
        if not page.num_rows:  # no batch would be written for it
            return
        page = page.select(list(SIDE)).cast(self.schema)
        self._starts.append(self._starts[-1] + page.num_rows)
        if self.path is None:
            self._pages.append(page)
            return
        if self._writer is None:
            self._writer = pa.ipc.new_file(str(self.path), self.schema)
        self._writer.write_table(page, max_chunksize=max(1, page.num_rows))

    def close_writing(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def take(self, rows: np.ndarray, columns: tuple[str, ...] = SIDE) -> pa.Table:
        """The rows ``rows`` (any order; each page read once per call, rows sorted first)."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.asarray(self._starts, dtype=np.int64)
        page_of = np.searchsorted(starts, ordered, side="right") - 1
        parts: list[pa.Table] = []
        bounds = np.flatnonzero(np.diff(page_of, prepend=-1, append=len(starts)))
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            page = int(page_of[lo])
            local = pa.array(ordered[lo:hi] - starts[page])
            parts.append(self._page(page).select(list(columns)).take(local))
        out = pa.concat_tables(parts) if parts else pa.schema(
            [self.schema.field(c) for c in columns]).empty_table()
        if len(order) and not np.all(order[1:] > order[:-1]):
            inverse = np.empty(len(order), dtype=np.int64)
            inverse[order] = np.arange(len(order))
            out = out.take(pa.array(inverse))
        return out.combine_chunks()

    def _page(self, page: int) -> pa.Table:
        if self.path is None:
            return self._pages[page]
        batch = self._cached.pop(page, None)
        if batch is None:
            if self._reader is None:
                self.close_writing()
                self._file = pa.OSFile(str(self.path))  # read, not mapped: a page's memory is freed after use
                self._reader = pa.ipc.open_file(self._file)
            batch = self._reader.get_batch(page)
        self._cached[page] = batch
        while len(self._cached) > _CACHED_PAGES:
            del self._cached[next(iter(self._cached))]
        return pa.Table.from_batches([batch])

    def close(self) -> None:
        """Forget the columns and delete the file this wrote (nothing else)."""
        self.close_writing()
        self._reader, self._cached, self._pages = None, {}, []
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@dataclass(slots=True)
class Candidates:
    """The candidates in key order: lean columns (:data:`CODED` ones as codes into sorted
    dictionaries), the side columns, the digest of what was read and the standings its licences
    were evaluated from."""

    table: pa.Table  # id, source_id, sha256 (32 bytes), words, bytes, and the CODED columns as int32 codes
    dictionaries: dict[str, list[str]]
    side: SideColumns
    state: str
    standings: Standings | None = None
    own_decisions: dict[int, int] = field(default_factory=dict)  # row → id of the document's own decision

    def decision_ids(self, rows: np.ndarray) -> list[int]:
        """The decisions the documents at ``rows`` rest on: their sources' and their own."""
        if self.standings is None or not len(rows):
            return []
        st = self.standings
        ids = {st.sources[sid].decision_id for sid in np.unique(self.numpy("source_id")[rows]).tolist()}
        if self.own_decisions:
            own = np.fromiter(self.own_decisions, dtype=np.int64, count=len(self.own_decisions))
            ids |= {self.own_decisions[r] for r in own[np.isin(own, rows)].tolist()}
        return sorted(i for i in ids if i is not None)

    def __len__(self) -> int:
        return self.table.num_rows

    def numpy(self, name: str) -> np.ndarray:
        return self.table.column(name).to_numpy()

    def strings(self, name: str, rows: np.ndarray | None = None) -> pa.Array:
        """A coded column's values (at ``rows``) as plain strings."""
        codes = self.numpy(name) if rows is None else self.numpy(name)[rows]
        dictionary = pa.array(self.dictionaries[name], pa.string())
        return dictionary.take(pa.array(codes, mask=codes < 0))

    def sha256_hex(self, rows: np.ndarray | None = None) -> pa.Array:
        """The sha256 column (at ``rows``) as the registry spells it: 64 lowercase hex digits."""
        raw = self.sha256_bytes() if rows is None else self.sha256_bytes()[rows]
        return _hex(raw)

    def sha256_bytes(self) -> np.ndarray:
        """Every candidate's hash as 32 bytes (a view of the column, no copy)."""
        chunked = self.table.column("sha256")
        column = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
        return np.frombuffer(column.buffers()[1], dtype="S32")[column.offset:column.offset + len(column)]

    def keys(self, rows: np.ndarray) -> list[str]:
        """``source/identifier`` of the documents at ``rows``."""
        side = self.side.take(rows, ("source", "identifier"))
        return pc.binary_join_element_wise(side["source"], side["identifier"], "/").to_pylist()

    def close(self) -> None:
        self.side.close()


def read_candidates(registry: Registry, spec: BuildSpec, *, side: SideColumns | None = None,
                    on_page: Callable[[pa.Table], None] | None = None) -> Candidates:
    """The current documents ``spec.select`` names by source, collection and date (the other
    selection rules are build stages, so that their drops are counted in the funnel).

    ``on_page`` gets each page as :meth:`CandidateReader.pages` yields it."""
    reader = CandidateReader(registry, spec, side=side)
    for page, _first in reader.pages():
        if on_page is not None:
            on_page(page)
    return reader.result()


class CandidateReader:
    """Reads the candidates a page at a time, in one snapshot of the registry, so that a build
    can start work on the first pages while the next ones are read; :meth:`result` is the whole."""

    def __init__(self, registry: Registry, spec: BuildSpec, *, side: SideColumns | None = None) -> None:
        self.registry, self.spec = registry, spec
        self.side = side if side is not None else SideColumns()
        self._result: Candidates | None = None

    def pages(self) -> Iterator[tuple[pa.Table, int]]:
        """(page, number of its first row): every column the query read, plus ``source``,
        ``collection``, ``license``, ``tier``, ``status`` (as they stand today) and ``shard``, in
        row order. The transaction stays open until the last page is taken."""
        sel = self.spec.select
        with self.registry.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # every statement below sees one snapshot
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if conn.dialect.name == "sqlite":  # pysqlite opens no transaction for reads by itself
                    conn.exec_driver_sql("BEGIN")
                withdrawals = sorted((slug, ident or "", sha or "") for slug, ident, sha in conn.execute(
                    select(Source.slug, Withdrawal.document_identifier, Withdrawal.sha256)
                    .join(Source, Source.id == Withdrawal.source_id)))
                standings = load_standings(conn)
                texts = withdrawn_texts(conn)
                sources = select(Source.id, Source.slug, Source.collection)
                if sel.sources:
                    sources = sources.where(Source.slug.in_(sel.sources))
                if sel.collections:
                    sources = sources.where(Source.collection.in_([c.value for c in sel.collections]))
                # key order: "a-b/x" sorts before "a/x", so sources go by slug + "/"
                chosen = sorted(conn.execute(sources).all(), key=lambda r: (r.slug + "/").encode())
                self.expected = conn.execute(select(func.count()).select_from(Document).where(
                    Document.source_id.in_([r.id for r in chosen]), Document.is_current.is_(True))).scalar_one()
                reader = _Reader(standings, texts, self.side, _BlobShards(conn, self.expected),
                                 capacity=self.expected)
                order = _bytewise(conn, Document.identifier)  # asks the server once, not once a source
                for sid, slug, collection in chosen:
                    q = (select(Document.id, Document.source_id, Document.identifier, Document.sha256,
                                Document.language, Document.language_score, Document.word_count, Document.byte_size,
                                Document.declared_license, Document.status, Document.date, Document.title,
                                Document.creator, Document.url)
                         .where(Document.source_id == sid, Document.is_current.is_(True))
                         .order_by(order))
                    if sel.date_from:
                        q = q.where(Document.date >= sel.date_from)
                    if sel.date_to:
                        q = q.where(Document.date <= sel.date_to + "\uffff")
                    for page in _pages(conn, q, FIELDS):
                        first = reader.rows
                        page, raw = reader.prepare(page, slug, collection)
                        yield page, first
                        reader.keep(page, raw)
        self.side.close_writing()
        table, dictionaries, state = reader.finish()
        h = hashlib.sha256(state)
        h.update(hashlib.sha256(repr(withdrawals).encode()).digest())
        pa.default_memory_pool().release_unused()
        self._result = Candidates(table=table, dictionaries=dictionaries, side=self.side, state=h.hexdigest(),
                                  standings=standings, own_decisions=reader.own)

    def result(self) -> Candidates:
        """The candidates, once :meth:`pages` has been read to the end."""
        assert self._result is not None, "pages() was not read to the end"
        return self._result


class _Reader:
    """Turns pages of rows into lean columns, side columns and the state digest."""

    def __init__(self, standings: Standings, texts: dict[str, str], side: SideColumns, shards: _BlobShards, *,
                 capacity: int) -> None:
        self.standings, self.texts, self.side = standings, texts, side
        self.shards = shards
        self.codes = {name: _Codes(capacity) for name in CODED}
        # each lean column is allocated once, for every row the selection can return
        # (counts in 4 bytes, widened once if a value does not fit)
        self.plain: dict[str, np.ndarray] = {
            "id": np.empty(capacity, dtype=np.int64), "source_id": np.empty(capacity, dtype=np.int32),
            "sha256": np.empty(capacity, dtype="S32"), "words": np.empty(capacity, dtype=np.int32),
            "bytes": np.empty(capacity, dtype=np.int32)}
        self.digests = {name: (hashlib.sha256(), hashlib.sha256(), hashlib.sha256()) for name in _STATE}
        self.own: dict[int, int] = {}
        self.rows = 0

    def prepare(self, page: pa.Table, slug: str, collection: str | None) -> tuple[pa.Table, pa.Array]:
        """The page with its source, licences, tiers, statuses and shards as they stand, digested,
        and its hashes as 32-byte values."""
        n = page.num_rows
        page = page.append_column("source", pa.array([slug] * n, pa.string()))
        page = page.append_column("collection", pa.array([collection] * n, pa.string()))
        raw = _raw_sha256(page)
        page = page.append_column("shard", self.shards.of(raw))
        license_, tier = self._licences(page)
        page = page.append_column("license", license_).append_column("tier", tier)
        page = page.set_column(page.schema.get_field_index("status"), "status", self._status(page))
        for name in _STATE:
            _digest(self.digests[name], page[name].combine_chunks())
        return page, raw

    def keep(self, page: pa.Table, raw: pa.Array) -> None:
        """Add a prepared page (and its 32-byte hashes) to the lean and side columns."""
        n = page.num_rows
        self.side.append(page)
        at = self.rows
        if at + n > len(self.plain["id"]):  # more rows than counted: the registry grew meanwhile
            raise BuildError("the registry changed while the build read it",
                             hint="run the build again once the ingest is done")
        for name in CODED:
            self.codes[name].add(at, page[name].combine_chunks())
        for name in ("id", "words", "bytes", "source_id"):
            values = page[name].to_numpy()
            kind = np.iinfo(self.plain[name].dtype)
            if len(values) and (values.max() > kind.max or values.min() < kind.min):
                self.plain[name] = self.plain[name].astype(np.int64)
            self.plain[name][at:at + n] = values
        self.plain["sha256"][at:at + n] = np.frombuffer(raw.buffers()[1], dtype="S32")[raw.offset:raw.offset + n]
        self.rows += n

    def finish(self) -> tuple[pa.Table, dict[str, list[str]], bytes]:
        n = self.rows
        columns: dict[str, pa.Array] = {"id": pa.array(self.plain["id"][:n])}
        for name in ("source_id", "words", "bytes"):
            columns[name] = pa.array(_narrow(self.plain[name][:n]))
            self.plain[name] = self.plain[name][:0]
        sha = np.ascontiguousarray(self.plain["sha256"][:n])
        columns["sha256"] = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(sha)])
        dictionaries = {}
        for name, codes in self.codes.items():
            values, dictionaries[name] = codes.finish(n)
            columns[name] = pa.array(_narrow(values))
        state = hashlib.sha256()
        for name in _STATE:
            state.update(f"{name}={':'.join(h.hexdigest() for h in self.digests[name])}\n".encode())
        self.shards.close()
        return pa.table(columns), dictionaries, state.digest()

    def _licences(self, page: pa.Table) -> tuple[pa.Array, pa.Array]:
        """Each row's licence and tier today: evaluated once per declared licence, and one by one
        for the few rows with a decision of their own (remembered by row)."""
        st = self.standings
        sid = int(page["source_id"][0].as_py())
        declared = page["declared"].combine_chunks().dictionary_encode()
        verdicts = [evaluate(declared=label, source=st.sources[sid]) for label in declared.dictionary.to_pylist()]
        null = evaluate(declared=None, source=st.sources[sid])
        codes = np.asarray(declared.indices.fill_null(len(verdicts)), dtype=np.int64)
        license_ = np.array([v.license for v in verdicts] + [null.license], dtype=object)[codes]
        tier = np.array([v.tier.value for v in verdicts] + [null.tier.value], dtype=object)[codes]
        if st.documents:
            identifiers = page["identifier"].to_pylist()
            for row, ident in enumerate(identifiers):
                own = st.documents.get((sid, ident))
                if own is not None:
                    v = evaluate(declared=page["declared"][row].as_py(), source=st.sources[sid], document=own)
                    license_[row], tier[row] = v.license, v.tier.value
                    if own.decision_id is not None:
                        self.own[self.rows + row] = own.decision_id
        return pa.array(license_, pa.string()), pa.array(tier, pa.string())

    def _status(self, page: pa.Table) -> pa.Array:
        """``withdrawn`` for a document withdrawn itself, through its source, or through its text."""
        status = page["status"].combine_chunks()
        active = np.asarray(pc.fill_null(pc.equal(status, "active"), False))
        out = ~active
        sid = int(page["source_id"][0].as_py())
        if self.standings.source_status.get(sid, "active") != "active":
            out[:] = True
        if self.texts:
            out |= np.asarray(pc.is_in(page["sha256"], value_set=pa.array(sorted(self.texts), pa.string())))
        return pc.if_else(pa.array(out & active), pa.scalar("withdrawn", pa.string()), status)


class _BlobShards:
    """Which store shard holds each text. A large selection reads the blob table once (the first 8
    bytes of each hash, sorted, and a shard code: 12 bytes a text, freed after the read) and
    matches each page against it: a join in SQL looks every row up in the blob index, several
    times slower. Hashes that share their first 8 bytes with another blob's are kept whole. A text
    whose own blob is missing but whose first 8 bytes another blob has (odds of 2⁻⁶⁴ a pair) is
    sent to that blob's shard, where the store's read finds it missing and says so. A small
    selection looks up only its own texts, a page at a time."""

    def __init__(self, conn: Connection, wanted: int) -> None:
        self.conn = conn
        total = conn.execute(select(func.count()).select_from(Blob)).scalar_one()
        self.names: list[str] = []
        self.heads = np.empty(0, dtype=np.uint64)  # first 8 bytes of each blob's hash, sorted
        self.codes = np.empty(0, dtype=np.int32)
        self.whole: dict[bytes, int] = {}  # whole hash -> shard code, where a head is shared
        self.lookup = 4 * wanted < total
        if self.lookup:
            return
        index: dict[str, int] = {}
        heads, codes = [], []
        for page in _pages(conn, select(Blob.sha256, Blob.shard), {"sha256": pa.string(), "shard": pa.string()}):
            page = page.filter(pc.equal(pc.binary_length(page["sha256"]), 64))  # others match no document
            heads.append(hash_heads(page["sha256"]))
            encoded = page["shard"].combine_chunks().dictionary_encode()
            local = np.array([index.setdefault(v, len(index)) for v in encoded.dictionary.to_pylist()], dtype=np.int32)
            codes.append(local[encoded.indices.to_numpy()])
        self.names = list(index)
        everything = np.concatenate(heads) if heads else self.heads
        del heads
        order = np.argsort(everything, kind="stable")
        self.heads = everything[order]
        del everything
        self.codes = np.concatenate(codes)[order] if codes else self.codes
        del order, codes
        shared = np.unique(self.heads[1:][self.heads[1:] == self.heads[:-1]])
        for head in shared:  # rare: read those blobs again, whole
            low = head.tobytes().hex()
            for sha, shard in conn.execute(select(Blob.sha256, Blob.shard).where(
                    Blob.sha256 >= low, Blob.sha256 < low + "g")):
                if len(sha) == 64:
                    self.whole[binascii.unhexlify(sha)] = index[shard]

    def of(self, raw: pa.Array) -> pa.Array:
        """The shard of each 32-byte hash (null: no blob)."""
        wanted = np.frombuffer(raw.buffers()[1], dtype="S32")[raw.offset:raw.offset + len(raw)]
        if self.lookup:
            found = dict(self.conn.execute(select(Blob.sha256, Blob.shard).where(
                Blob.sha256.in_(sorted(set(_hex(wanted).to_pylist()))))).all())
            return pa.array([found.get(h) for h in _hex(wanted).to_pylist()], pa.string())
        if not len(self.heads):
            return pa.nulls(len(wanted), pa.string())
        query = np.ascontiguousarray(wanted).view(np.uint64).reshape(-1, 4)[:, 0]
        lo = np.searchsorted(self.heads, query, side="left")
        hi = np.searchsorted(self.heads, query, side="right")
        hit = hi - lo == 1
        code = np.where(hit, self.codes[np.minimum(lo, len(self.heads) - 1)], 0)
        for row in np.flatnonzero(hi - lo > 1).tolist():  # a shared head: the whole hash decides
            got = self.whole.get(bytes(wanted[row]).ljust(32, b"\0"))
            hit[row], code[row] = got is not None, got or 0
        names = pa.array(self.names, pa.string())
        return names.take(pa.array(code, mask=~hit))

    def close(self) -> None:
        self.heads, self.codes, self.whole = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int32), {}


def hash_heads(sha256: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The first 8 bytes of each 64-digit hex sha256, as integers (the order-free key a build
    sorts and matches hashes by)."""
    column = sha256.combine_chunks() if isinstance(sha256, pa.ChunkedArray) else sha256
    return np.frombuffer(binascii.unhexlify(_joined(pc.utf8_slice_codeunits(column, 0, 16))), dtype=np.uint64).copy()


def _joined(hexes: pa.Array | pa.ChunkedArray) -> bytes:
    """The bytes of a column of 64-character strings, one after another."""
    column = hexes.combine_chunks() if isinstance(hexes, pa.ChunkedArray) else hexes
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset:column.offset + len(column) + 1]
    return memoryview(column.buffers()[2])[offsets[0]:offsets[-1]].tobytes() if len(column) else b""


def _narrow(values: np.ndarray) -> np.ndarray:
    """``values`` in the smallest signed integer type that holds them (a copy only if smaller)."""
    low, high = (int(values.min()), int(values.max())) if len(values) else (0, 0)
    for kind in (np.int8, np.int16, np.int32):
        info = np.iinfo(kind)
        if values.dtype.itemsize > np.dtype(kind).itemsize and info.min <= low and high <= info.max:
            return values.astype(kind)
    return values


_BYTEWISE = {"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"}  # collations that sort by code point


def _bytewise(conn: Connection, column: Any) -> Any:
    """``column`` ordered by its bytes (UTF-8 code point order) on either backend. A PostgreSQL
    database whose default collation already does (``C``, ``C.UTF-8``) keeps it, so that the
    ``(source_id, is_current, identifier)`` index gives the order; any other is told ``C``."""
    if conn.dialect.name != "postgresql":
        return column
    collation = conn.exec_driver_sql(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()").scalar()
    return column if collation in _BYTEWISE else column.collate("C")


def _raw_sha256(page: pa.Table) -> pa.Array:
    """The page's sha256 column as 32-byte values (each document's, checked to be 64 hex digits)."""
    hexes = page["sha256"].combine_chunks()
    lengths = pc.binary_length(hexes)
    bad = pc.or_kleene(pc.is_null(hexes), pc.not_equal(lengths, 64))
    if pc.any(bad).as_py():
        row = int(np.flatnonzero(np.asarray(pc.fill_null(bad, True)))[0])
        raise BuildError(f"document {page['source'][row]}/{page['identifier'][row]} has sha256 "
                         f"{hexes[row].as_py()!r} in the registry, which is not a sha256",
                         hint="run `corpus-registry verify` and re-ingest its source with `ingest --repair`")
    try:
        raw = binascii.unhexlify(_joined(hexes))
    except (binascii.Error, ValueError) as e:
        raise BuildError(f"a document of source {page['source'][0]} has a sha256 in the registry that is not "
                         f"hexadecimal ({e})", hint="run `corpus-registry verify` to find it") from e
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(hexes), [None, pa.py_buffer(raw)])


def _hex(raw: np.ndarray) -> pa.Array:
    """32-byte values as 64-character lowercase hex strings, with no Python string per value."""
    text = binascii.hexlify(np.ascontiguousarray(raw).tobytes())
    offsets = np.arange(0, 64 * len(raw) + 1, 64, dtype=np.int32)
    return pa.StringArray.from_buffers(len(raw), pa.py_buffer(offsets.tobytes()), pa.py_buffer(text))


def _pages(conn: Connection, query: Select, fields: dict[str, pa.DataType]) -> Any:
    """``query``'s rows as Arrow tables of up to :data:`PAGE` rows, read from the driver's own
    cursor (server-side on PostgreSQL, so memory holds one page): every column selected here is a
    plain string or number, which the driver already returns as the right Python type."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    driver = conn.connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor(name="corpus_registry_read") if conn.dialect.name == "postgresql" else driver.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(PAGE):
            yield pa.table({name: pa.array(values, type=type_)
                            for (name, type_), values in zip(fields.items(), zip(*rows))})
            del rows
    finally:
        cursor.close()


def _digest(hashers: tuple[Any, Any, Any], column: pa.Array) -> None:
    """Add a page of a column's values to its three digests (nulls, value lengths, bytes): equal
    values, equal digests, whichever backend they were read from and however they were paged."""
    nulls, lengths, data = hashers
    nulls.update(np.asarray(column.is_null()).tobytes())
    if pa.types.is_string(column.type):
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset:column.offset + len(column) + 1]
        lengths.update(np.diff(offsets).tobytes())
        buffer = column.buffers()[2]
        if buffer is not None:
            data.update(memoryview(buffer)[offsets[0]:offsets[-1]])
    else:
        data.update(column.fill_null(0).to_numpy().astype("<f8" if pa.types.is_floating(column.type) else "<i8")
                    .tobytes())
