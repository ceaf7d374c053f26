"""The release format: one fixed Arrow schema, shard layout per Hub config, and the manifest.

Rows follow the Common Corpus fields plus provenance (source, url, sha256). Every shard of every
release has exactly :data:`SCHEMA`, so no schema drift between shards or releases.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpus_registry.errors import BuildError, OutputError
from corpus_registry.hub import manifest_files

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


#: A config name (a language code, or ``share_alike``) as it may appear in a path: one plain segment.
_CONFIG = re.compile(r"^[A-Za-z0-9]{1,16}(?:[-_][A-Za-z0-9]{1,16}){0,7}$")
FORMAT = "corpus-registry-release/1"


def safe_config(config: str) -> bool:
    """Whether ``config`` can name a folder of ``data/``: letters, digits, inner ``-``/``_``."""
    return isinstance(config, str) and bool(_CONFIG.match(config))


def shard_path(config: str, index: int, total: int) -> str:
    """Where a shard of ``config`` goes, relative to the release folder (never outside it)."""
    if not safe_config(config):
        raise BuildError(f"config {config!r} cannot name a folder of the release",
                         hint="language codes must be valid BCP 47 tags (fix the registry's language)")
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


def file_hashes(folder: Path, known: dict[str, str]) -> dict[str, str]:
    """sha256 of every file under ``folder`` but the manifest (``known`` ones are not read again):
    the manifest's ``files`` listing, so that anything a build writes is listed as the release's own."""
    hashes: dict[str, str] = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if relative != MANIFEST:
                hashes[relative] = known.get(relative) or sha256_file(path)
    return dict(sorted(hashes.items()))


def check_own_release(folder: Path) -> dict[str, Any]:
    """The manifest of ``folder`` if every file in it is one a build wrote, unchanged; else
    :class:`OutputError` naming the first file that is not (what a build may replace).

    A build's own files are those its manifest lists (:func:`~corpus_registry.hub.manifest_files`),
    with the sha256 it gives; every folder must lead to one of them. Symbolic links and special
    files are never a build's."""
    def refuse(problem: str) -> OutputError:
        return OutputError(f"{folder}: {problem}; the tool replaces only a release folder it wrote",
                           path=str(folder), hint="choose another --out, or move that file away")

    try:
        manifest = read_manifest(folder)
    except FileNotFoundError:
        raise refuse(f"is not empty and has no {MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise refuse(f"its {MANIFEST} cannot be read ({type(e).__name__})") from e
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith("corpus-registry-release/"):
        raise refuse(f"its {MANIFEST} is not a corpus-registry release manifest")
    listed = manifest_files(manifest)
    needed = {MANIFEST, *listed}
    folders = {p.rsplit("/", 1)[0] for p in needed if "/" in p}
    folders |= {f.rsplit("/", n)[0] for f in list(folders) for n in range(1, f.count("/") + 1)}
    for root, dirs, names in os.walk(folder):
        for name in sorted(dirs + names):
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise refuse(f"{relative} is a symbolic link")
            if path.is_dir():
                if relative not in folders:
                    raise refuse(f"holds {relative}/, which is not part of the release")
            elif not path.is_file():
                raise refuse(f"{relative} is not a regular file")
            elif relative not in needed:
                raise refuse(f"holds {relative}, which is not part of the release")
            elif listed.get(relative) is not None and sha256_file(path) != listed[relative]:
                raise refuse(f"{relative} was changed after the build")
    return manifest
