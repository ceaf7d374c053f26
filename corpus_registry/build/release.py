"""The release format: one fixed Arrow schema, shard layout per Hub config, and the manifest.

Rows follow the Common Corpus fields plus provenance (source, url, sha256). Every shard of every
release has exactly :data:`SCHEMA`, so no schema drift between shards or releases.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    ("token_count", pa.int64()),
    ("text", pa.large_string()),
    ("source", pa.string()),
    ("url", pa.string()),
    ("sha256", pa.string()),
])
COLUMNS = SCHEMA.names


@dataclass(frozen=True, slots=True)
class Column:
    """What a release column means, for the card's Data Fields section and the Croissant fields.

    ``role`` is the schema.org property a row's value is (each row is a ``sc:CreativeWork``)."""

    description: str
    role: str


#: Every column of :data:`SCHEMA`, described once; the card and croissant.json read it from here
#: (``tests/build/test_standards.py`` fails for a column added to the schema but not here).
COLUMN_DOCS: dict[str, Column] = {
    "identifier": Column("The document's identifier, unique within its source.", "sc:identifier"),
    "collection": Column("The Common Corpus collection of its source (OpenCulture, OpenGovernment, "
                         "OpenScience, OpenWeb, OpenSource, OpenSemantic).", "sc:isPartOf"),
    "open_type": Column("The licence family of the row: Public Domain, Attribution or Share-Alike.",
                        "sc:usageInfo"),
    "license": Column("The row's licence: an SPDX expression, checked against the registry.", "sc:license"),
    "date": Column("The date of the work (first publication or creation; YYYY, YYYY-MM or YYYY-MM-DD) when known, "
                   "else empty; never a distribution date such as Project Gutenberg's release date, which the "
                   "registry keeps apart (extra.distribution_date).", "sc:dateCreated"),
    "title": Column("The document's title when known.", "sc:name"),
    "creator": Column("The document's author or creator when known.", "sc:creator"),
    "language": Column("The language of the text (ISO 639 code), identified by the registry.", "sc:inLanguage"),
    "word_count": Column("The number of words of the text.", "sc:wordCount"),
    "token_count": Column("The number of tokens of the text by the tokenizer the manifest names (no special "
                          "tokens added, no truncation); null when the build spec named no tokenizer.", "sc:value"),
    "text": Column("The text, normalised (Unicode NFC, \\n line ends, no byte-order marks).", "sc:text"),
    "source": Column("Provenance: the registry source the document was ingested from.", "sc:isBasedOn"),
    "url": Column("Provenance: where the document can be found at its origin (the source's own URL for it, "
                  "else one made from the source's url_template).", "sc:url"),
    "sha256": Column("The checksum of the row: sha256 of the UTF-8 text, as registered.", "sc:sha256"),
}


def column_docs(schema: pa.Schema = SCHEMA, *, tokenizer: dict[str, Any] | None | Literal[False] = False
                ) -> list[tuple[str, pa.DataType, Column]]:
    """(name, type, meaning) of every column of ``schema``; a column nobody described yet is
    still listed, by its name. ``tokenizer``: the manifest's entry (None: the release has none),
    to say exactly what ``token_count`` holds; False: describe it in general."""
    docs = dict(COLUMN_DOCS)
    if tokenizer is not False:
        docs["token_count"] = Column(token_count_doc(tokenizer), COLUMN_DOCS["token_count"].role)
    return [(f.name, f.type, docs.get(f.name) or Column(f"{f.name} ({f.type}).", "sc:value"))
            for f in schema]


def token_count_doc(tokenizer: dict[str, Any] | None) -> str:
    """What ``token_count`` holds in a release with this manifest ``tokenizer`` entry."""
    if not tokenizer:
        return "Null in this release: its build spec named no tokenizer (the spec's tokenizer field sets one)."
    special = "with" if tokenizer.get("add_special_tokens") else "without"
    return (f"The number of tokens of the text by the tokenizer {tokenizer['name']} (tokenizer.json sha256 "
            f"{tokenizer['sha256']}), {special} special tokens and without truncation.")


#: Every candidate a build did not keep: why (the stage and reason that dropped it) and, for a
#: duplicate, which kept document (``source/identifier``) it duplicates and how closely.
REMOVED_SCHEMA = pa.schema([
    ("identifier", pa.string()),
    ("source", pa.string()),
    ("sha256", pa.string()),
    ("language", pa.string()),
    ("word_count", pa.int64()),
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("duplicate_of", pa.string()),
    ("similarity", pa.float64()),
])
REMOVED_DOCS: dict[str, str] = {
    "identifier": "The document's identifier, unique within its source.",
    "source": "The registry source of the document.",
    "sha256": "sha256 of the document's normalised text.",
    "language": "The language the registry identified.",
    "word_count": "The number of words of the text.",
    "stage": "The build stage that removed the document (licence, withdrawn, language, filter:NAME, "
             "exact_dedup, near_dedup).",
    "reason": "Why that stage removed it.",
    "duplicate_of": "For a duplicate: the kept document (source/identifier) it duplicates.",
    "similarity": "For a duplicate: its estimated Jaccard similarity to the kept document (1.0: same text).",
}

MANIFEST = "manifest.json"
CARD = "README.md"
ATTRIBUTION = "ATTRIBUTION.md"
FUNNEL_PNG = "funnel.png"
CROISSANT = "croissant.json"
REMOVED = "removed.parquet"
DOLMA_DIR = "dolma"
SHARE_ALIKE_CONFIG = "share_alike"
OPEN_TYPES = {"public_domain": "Public Domain", "attribution": "Attribution", "share_alike": "Share-Alike"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def plan_shards(sizes: Iterable[int], *, max_rows: int, max_bytes: int) -> list[int]:
    """Row counts per shard for rows of the given byte sizes (known before writing), taken one at a time."""
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


def dolma_path(config: str, index: int, total: int) -> str:
    """The dolma copy of a shard: the same rows, in dolma's ``documents/`` layout (gzipped JSON lines)."""
    return f"{DOLMA_DIR}/documents/{config}/train-{index:05d}-of-{total:05d}.json.gz"


ROW_GROUP = 2_000
_WRITER_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True}
_DICTIONARY = {"collection", "open_type", "license", "language", "source", "stage", "reason"}


def write_shard(path: Path, row_groups: Iterable[pa.Table], *, schema: pa.Schema = SCHEMA) -> dict[str, Any]:
    """Write one shard, a row group at a time (memory bounded by one group), with a fixed schema
    and fixed writer settings; return its sha256, rows and bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    options = {**_WRITER_OPTIONS, "use_dictionary": [c for c in schema.names if c in _DICTIONARY]}
    with pq.ParquetWriter(path, schema, **options) as writer:
        for group in row_groups:
            writer.write_table(group.cast(schema), row_group_size=ROW_GROUP)
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
