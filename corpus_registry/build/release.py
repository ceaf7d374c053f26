"""The release format: one fixed Arrow schema, shard layout per Hub config, and the manifest.

Rows follow the Common Corpus fields plus provenance (source, url, sha256). Every shard of every
release has exactly :data:`SCHEMA`, so no schema drift between shards or releases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("identifier", pa.string()),
    ("collection", pa.string()),
    ("open_type", pa.string()),
    ("license", pa.string()),
    ("date", pa.string()),
    ("title", pa.string()),
    ("creator", pa.string()),
    ("language", pa.string()),
    ("word_count", pa.int64()),
    ("text", pa.large_string()),
    ("source", pa.string()),
    ("url", pa.string()),
    ("sha256", pa.string()),
])
COLUMNS = SCHEMA.names
MANIFEST = "manifest.json"
CARD = "README.md"
ATTRIBUTION = "ATTRIBUTION.md"
FUNNEL_PNG = "funnel.png"
SHARE_ALIKE_CONFIG = "share_alike"
OPEN_TYPES = {"public_domain": "Public Domain", "attribution": "Attribution", "share_alike": "Share-Alike"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def plan_shards(sizes: Sequence[int], *, max_rows: int, max_bytes: int) -> list[int]:
    """Row counts per shard for rows of the given byte sizes (known before writing)."""
    shards: list[int] = []
    rows = size = 0
    for s in sizes:
        if rows and (rows >= max_rows or size + s > max_bytes):
            shards.append(rows)
            rows = size = 0
        rows += 1
        size += s
    if rows:
        shards.append(rows)
    return shards


def shard_path(config: str, index: int, total: int) -> str:
    return f"data/{config}/train-{index:05d}-of-{total:05d}.parquet"


ROW_GROUP = 2_000
_WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "write_statistics": True,
    "use_dictionary": ["collection", "open_type", "license", "language", "source"],
}


def write_shard(path: Path, row_groups: Iterable[pa.Table]) -> dict[str, Any]:
    """Write one shard, a row group at a time (memory bounded by one group), with the fixed schema
    and fixed writer settings; return its sha256, rows and bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(path, SCHEMA, **_WRITER_OPTIONS) as writer:
        for group in row_groups:
            writer.write_table(group.cast(SCHEMA), row_group_size=ROW_GROUP)
            rows += group.num_rows
    return {"sha256": sha256_file(path), "rows": rows, "bytes": path.stat().st_size}


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> str:
    """Write manifest.json deterministically (sorted keys) and return its sha256."""
    data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    (out_dir / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
