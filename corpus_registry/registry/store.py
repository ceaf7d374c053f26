"""Content-addressed document store: normalised texts in Parquet shards on any fsspec filesystem.

A shard holds (sha256, text) rows sorted by sha256; its name is derived from the hashes it
holds, so writing the same batch twice yields the same file (an interrupted ingest that is re-run
rewrites identical bytes rather than leaving conflicting copies).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from functools import lru_cache

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([("sha256", pa.string()), ("text", pa.large_string())])


class DocumentStore:
    """Texts by sha256. ``url`` is a folder path or any fsspec URL (``s3://``, ``memory://``…)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.fs.makedirs(f"{self.root}/shards", exist_ok=True)

    def _path(self, shard: str) -> str:
        return f"{self.root}/shards/{shard[:2]}/{shard}.parquet"

    def put(self, items: Iterable[tuple[str, str]]) -> str:
        """Write one shard of (sha256, text) pairs and return its name."""
        rows = sorted(dict(items).items())
        name = hashlib.sha256("".join(sha for sha, _ in rows).encode()).hexdigest()[:40]
        path = self._path(name)
        if self.fs.exists(path):
            return name
        table = pa.table(
            {"sha256": [r[0] for r in rows], "text": [r[1] for r in rows]}, schema=SCHEMA
        )
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd", write_statistics=["sha256"])
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{path}.tmp"
        with self.fs.open(tmp, "wb") as f:
            f.write(buf.getvalue())
        self.fs.mv(tmp, path)
        return name

    def read_shard(self, shard: str) -> dict[str, str]:
        return _read_shard(self, shard)

    def get_many(self, wanted: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
        """Yield (sha256, text) for (sha256, shard) pairs, opening each shard once."""
        by_shard: dict[str, list[str]] = {}
        for sha, shard in wanted:
            by_shard.setdefault(shard, []).append(sha)
        for shard, shas in by_shard.items():
            texts = self.read_shard(shard)
            for sha in shas:
                yield sha, texts[sha]

    def get(self, sha256: str, shard: str) -> str:
        return self.read_shard(shard)[sha256]


@lru_cache(maxsize=4)
def _read_shard(store: DocumentStore, shard: str) -> dict[str, str]:
    with store.fs.open(store._path(shard), "rb") as f:
        table = pq.read_table(f)
    return dict(zip(table.column("sha256").to_pylist(), table.column("text").to_pylist()))
