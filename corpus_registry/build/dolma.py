"""The dolma copy of a release: the same rows, in dolma's document format and layout
(``dolma/documents/<config>/train-NNNNN-of-NNNNN.json.gz``, one JSON object per line), for the
dolma toolkit, datatrove and Common Pile pipelines.

A row becomes ``{id, text, source, added, created, metadata}``: ``source`` is the registry source,
``created`` the document's date, ``added`` the date the source was retrieved (when the catalogue
says), and ``metadata`` every other column under its own name (the creator as ``author``, as the
Common Pile names it), so that a column added to the release flows into the copy. The ``dolma``
reader reads it back. Files are gzipped without a timestamp: the same rows give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from corpus_registry.build.release import sha256_file
from corpus_registry.registry.readers.dolma import DOLMA_FIELDS, METADATA_NAMES


def dolma_document(row: dict[str, Any], *, added: str | None) -> dict[str, Any]:
    """One release row as a dolma document (absent dates are left out: dolma's are optional strings)."""
    doc: dict[str, Any] = {"id": row["identifier"], "text": row["text"], "source": row["source"]}
    if added:
        doc["added"] = added
    if row.get("date"):
        doc["created"] = row["date"]
    doc["metadata"] = {METADATA_NAMES.get(k, k): v for k, v in row.items() if k not in DOLMA_FIELDS}
    return doc


class DolmaWriter:
    """Writes one dolma file a table at a time (the texts of one row group in memory at most)."""

    def __init__(self, path: Path, *, added: dict[str, str | None]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.added, self.rows = path, added, 0
        self._raw = path.open("wb")
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        self._text = io.TextIOWrapper(self._gzip, encoding="utf-8", newline="\n")

    def write(self, table: pa.Table) -> None:
        for row in table.to_pylist():
            line = json.dumps(dolma_document(row, added=self.added.get(row["source"])), ensure_ascii=False)
            self._text.write(line + "\n")
            self.rows += 1

    def close(self) -> dict[str, Any]:
        """Finish the file; its sha256, rows and bytes."""
        if not self._raw.closed:
            self._text.close()  # flushes and ends the gzip stream, which leaves the file open
            self._raw.close()
        return {"sha256": sha256_file(self.path), "rows": self.rows, "bytes": self.path.stat().st_size}
