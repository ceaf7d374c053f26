"""Content-addressed document store: normalised texts in Parquet shards on any fsspec filesystem.

A shard holds (sha256, text) rows sorted by sha256; its name is derived from the hashes it
holds, so writing the same batch twice yields the same file (an interrupted ingest that is re-run
rewrites identical bytes rather than leaving conflicting copies).

Every text read back is checked against its sha256 (hashed straight from the Arrow buffer, only
for the texts asked for): a missing shard, an unreadable one, a text absent from its shard or one
that no longer hashes right is a :class:`StoreError`, never a wrong text.

A local shard is read through an Arrow file, a remote one from its bytes fetched whole, on the
calling thread: no Arrow thread pool is ever started to read the store (its threads, alive at
interpreter exit, aborted ``show`` now and then with "terminate called without an active
exception").
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from corpus_registry.errors import StoreError

SCHEMA = pa.schema([("sha256", pa.string()), ("text", pa.large_string())])
# Recent shards kept up to this many bytes of text (at least one shard): a build reads the store
# twice (filter + sign in store order, then the shards in release order, a row group at a time),
# and a store that fits here is read from disk once (at 50k documents, 1,197 shard reads became 137).
CACHE_BYTES = 128 << 20  # text of recently read shards kept (a build reads a shard to sign, then to write)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a text cannot be read back: ``kind`` is ``missing_shard``, ``unreadable_shard``,
    ``missing_text`` or ``damaged_text``; ``detail`` says more."""

    kind: str
    detail: str


class _Shard:
    """One shard read into memory: its text column's bytes, found by sha256 and hashed on demand."""

    def __init__(self, table: pa.Table) -> None:
        shas = table.column("sha256").to_pylist()
        text = table.column("text").combine_chunks()
        if not isinstance(text, pa.LargeStringArray):
            text = text.cast(pa.large_string())
        nulls = set(np.flatnonzero(np.asarray(text.is_null())).tolist()) if text.null_count else set()
        self.rows = ({sha: i for i, sha in enumerate(shas) if i not in nulls} if nulls
                     else dict(zip(shas, range(len(shas)))))
        offsets, data = text.buffers()[1], text.buffers()[2]
        self.offsets: list[int] = (np.frombuffer(offsets, dtype=np.int64)[text.offset:text.offset + len(text) + 1]
                                   .tolist() if offsets is not None else [0])
        self.data = memoryview(data) if data is not None else memoryview(b"")
        self.size = self.data.nbytes
        self.text = text

    def read(self, sha: str) -> str | Problem:
        """The text of ``sha``, checked against it; or why it cannot be read back."""
        row = self.row(sha)
        if isinstance(row, Problem):
            return row
        return str(self.data[self.offsets[row]:self.offsets[row + 1]], "utf-8")

    def row(self, sha: str) -> int | Problem:
        """The row of ``sha``, its text checked against it; or why it cannot be read back."""
        row = self.rows.get(sha)
        if row is None:
            return Problem("missing_text", "the text is not in its shard")
        if hashlib.sha256(self.data[self.offsets[row]:self.offsets[row + 1]]).hexdigest() != sha:
            return Problem("damaged_text", "the text no longer matches its sha256")
        return row


class DocumentStore:
    """Texts by sha256. ``url`` is a folder path or any fsspec URL (``s3://``, ``memory://``…)."""

    def __init__(self, url: str, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.url = url.rstrip("/")
        self.cache_bytes = cache_bytes  # text of recently read shards kept for the next reads
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.fs.makedirs(f"{self.root}/shards", exist_ok=True)
        self._cache: OrderedDict[str, tuple[object, _Shard]] = OrderedDict()

    def _path(self, shard: str) -> str:
        return f"{self.root}/shards/{shard[:2]}/{shard}.parquet"

    def put(self, items: Iterable[tuple[str, str]], *, replace: bool = False) -> str:
        """Write one shard of (sha256, text) pairs and return its name. An existing shard of that
        name is kept (same content by construction), unless ``replace`` (repairing a damaged one)."""
        rows = sorted(dict(items).items())
        name = hashlib.sha256("".join(sha for sha, _ in rows).encode()).hexdigest()[:40]
        path = self._path(name)
        if self.fs.exists(path) and not replace:
            return name
        table = pa.Table.from_arrays(
            [_strings([r[0] for r in rows], pa.string(), np.int32),
             _strings([r[1] for r in rows], pa.large_string(), np.int64)], schema=SCHEMA)
        buf = io.BytesIO()
        # no dictionary: every value is unique, and trying one hashes every text for nothing (a fifth of the write)
        pq.write_table(table, buf, compression="zstd", use_dictionary=False, write_statistics=["sha256"])
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{path}.tmp"
        with self.fs.open(tmp, "wb") as f:
            f.write(buf.getvalue())
        self.fs.mv(tmp, path)
        self._cache.pop(name, None)
        return name

    def get_many(self, wanted: Iterable[tuple[str, str | None]]) -> Iterator[tuple[str, str]]:
        """Yield (sha256, text) for (sha256, shard) pairs, reading each shard once and checking
        each text against its sha256; StoreError (with ``sha256`` and ``shard``) at the first
        one that cannot be read back."""
        by_shard: dict[str | None, list[str]] = {}
        for sha, shard in wanted:
            by_shard.setdefault(shard, []).append(sha)
        for shard, shas in by_shard.items():
            if shard is None:
                raise _error(shas[0], None, Problem("missing_text", "the registry knows no shard holding the text"))
            loaded = self._shard(shard)
            if isinstance(loaded, Problem):
                raise _error(shas[0], shard, loaded)
            for sha in shas:
                text = loaded.read(sha)
                if isinstance(text, Problem):
                    raise _error(sha, shard, text)
                yield sha, text

    def get_array(self, wanted: Sequence[tuple[str, str | None]]) -> pa.LargeStringArray:
        """The texts of (sha256, shard) pairs as one Arrow array, in the order asked: checked as
        :meth:`get_many` checks them, taken from the shards' columns without a Python string each."""
        by_shard: dict[str | None, list[int]] = {}
        for at, (_, shard) in enumerate(wanted):
            by_shard.setdefault(shard, []).append(at)
        pieces: list[pa.Array] = []
        for shard, where in by_shard.items():
            if shard is None:
                raise _error(wanted[where[0]][0], None,
                             Problem("missing_text", "the registry knows no shard holding the text"))
            loaded = self._shard(shard)
            if isinstance(loaded, Problem):
                raise _error(wanted[where[0]][0], shard, loaded)
            rows = []
            for at in where:
                row = loaded.row(wanted[at][0])
                if isinstance(row, Problem):
                    raise _error(wanted[at][0], shard, row)
                rows.append(row)
            pieces.append(loaded.text.take(pa.array(rows, pa.int64())))
        if not pieces:
            return pa.array([], pa.large_string())
        order = np.empty(len(wanted), dtype=np.int64)  # position asked -> position in the pieces
        order[[at for where in by_shard.values() for at in where]] = np.arange(len(wanted))
        return pa.concat_arrays(pieces).take(pa.array(order))

    def get(self, sha256: str, shard: str | None) -> str:
        """One text, checked against its sha256."""
        return next(self.get_many([(sha256, shard)]))[1]

    def problems(self, shard: str, shas: Iterable[str]) -> dict[str, Problem]:
        """What is wrong with each of ``shas`` in ``shard`` (absent: it reads back right); the shard
        is read afresh."""
        self._cache.pop(shard, None)
        loaded = self._shard(shard)
        self._cache.pop(shard, None)  # a whole-store check must not keep shards alive
        if isinstance(loaded, Problem):
            return dict.fromkeys(shas, loaded)
        return {sha: p for sha in shas if isinstance(p := loaded.read(sha), Problem)}

    def _shard(self, shard: str) -> _Shard | Problem:
        """``shard`` read (recent ones kept, up to ``cache_bytes``, while their file is unchanged), or why it cannot be."""
        path = self._path(shard)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            self._cache.pop(shard, None)
            return Problem("missing_shard", "its shard file is missing")
        except OSError as e:
            return Problem("unreadable_shard", f"its shard file cannot be read ({e})")
        stamp = (info.get("size"), info.get("mtime") or info.get("LastModified") or info.get("created"))
        cached = self._cache.get(shard)
        if cached is not None and cached[0] == stamp:
            self._cache.move_to_end(shard)
            return cached[1]
        try:
            loaded = _Shard(self._read(path))
        except FileNotFoundError:
            return Problem("missing_shard", "its shard file is missing")
        except (OSError, pa.ArrowException, ValueError, KeyError) as e:
            return Problem("unreadable_shard", f"its shard file is damaged ({type(e).__name__}: {e})")
        self._cache[shard] = (stamp, loaded)
        held = sum(cached_shard.size for _, cached_shard in self._cache.values())
        while held > self.cache_bytes and len(self._cache) > 1:
            held -= self._cache.popitem(last=False)[1][1].size
        return loaded

    def _read(self, path: str) -> pa.Table:
        """The shard's table, read on this thread: an Arrow file (never a Python one), no pre-buffering,
        no thread pool (Arrow's pool threads alive at interpreter exit could abort the process)."""
        source = pa.OSFile(path) if isinstance(self.fs, LocalFileSystem) else pa.BufferReader(self.fs.cat_file(path))
        with source:
            return pq.ParquetFile(source, pre_buffer=False).read(use_threads=False)


def _strings(values: list[str], arrow_type: pa.DataType, offset_type: type[np.integer[Any]]) -> pa.Array:
    """An Arrow string column built from its UTF-8 bytes and offsets: the same array as ``pa.array``,
    which would import pandas (a second or so, in every ingest process) to check for a DataFrame."""
    data = [value.encode("utf-8") for value in values]
    offsets = np.zeros(len(data) + 1, dtype=offset_type)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def _error(sha: str, shard: str | None, problem: Problem) -> StoreError:
    where = f"store shard {shard}" if shard else "the document store"
    return StoreError(f"text {sha[:12]}… in {where}: {problem.detail}", sha256=sha, shard=shard,
                      problem=problem.kind)


def naming(error: StoreError, documents: list[str]) -> StoreError:
    """``error`` again, its message naming the document(s) (SOURCE/IDENTIFIER) whose text it is."""
    if not documents:
        return error
    more = f" (and {len(documents) - 1} more document(s) with the same text)" if len(documents) > 1 else ""
    fields: dict[str, Any] = {k: v for k, v in error.fields.items() if k != "document"}
    return StoreError(f"document {documents[0]}{more}: {error.message}", document=documents[0], **fields)
