"""Where a dataset keeps its rows' licence labels: a ``license`` / ``licence`` column, the field a
caller names (a dotted path such as ``metadata.license``), or, in dolma and Common Pile files,
``metadata.license`` without any option. A file whose labels come from a named or recognised field
promises one on every row (a row without one is a ``missing_licence_label`` problem).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from corpus_registry.errors import AuditError
from corpus_registry.registry.readers.records import check_path, get_field

#: Where dolma and the Common Pile keep each record's licence.
DOLMA_LICENSE = "metadata.license"
#: Column names that hold a licence label on their own.
LICENSE_COLUMNS = ("license", "licence")


def check_field_path(path: str | None) -> str | None:
    """A ``--license-field`` as given, checked (None: find the labels by column name)."""
    if path is None:
        return None
    try:
        return check_path(path)
    except ValueError as e:
        raise AuditError(f"--license-field: {e}", hint="name a field, or a dotted path such as metadata.license",
                         field="license_field") from e


def parquet_license_field(schema: pa.Schema, columns: dict[str, str], license_field: str | None, *,
                          name: str) -> str | None:
    """The declared licence field of a Parquet file: the one named, else dolma's if the file has
    it and no licence column; None: labels (if any) come from the ``license`` column."""
    if license_field is None:
        if "license" in columns:
            return None
        meta = schema.field(schema.get_field_index("metadata")) if "metadata" in schema.names else None
        if meta is None or not pa.types.is_struct(meta.type) or meta.type.get_field_index("license") < 0:
            return None
        license_field = DOLMA_LICENSE
    if not _has_path(schema, license_field):
        raise AuditError(f"{name}: no field {license_field!r} (columns: {', '.join(schema.names)})",
                         hint="point --license-field at the field holding each row's licence", file=name,
                         field=license_field)
    return license_field


def _has_path(schema: pa.Schema, path: str) -> bool:
    """Whether ``path`` names a column of ``schema`` or a field inside its structs."""
    def walk(fields: dict[str, pa.DataType], parts: list[str]) -> bool:
        for k in range(len(parts), 0, -1):
            key = ".".join(parts[:k])
            if key in fields:
                rest, kind = parts[k:], fields[key]
                if not rest or (pa.types.is_struct(kind) and walk({f.name: f.type for f in kind}, rest)):
                    return True
        return False

    return walk({f.name: f.type for f in schema}, path.split("."))


def jsonl_license_field(path: Path, license_field: str | None) -> str | None:
    """The declared licence field of a JSON Lines file: the one named, else dolma's when the first
    record keeps its licence under ``metadata`` and has no ``license`` of its own."""
    if license_field is not None:
        return license_field
    first = _first_record(path)
    if first is None or any(c in first for c in LICENSE_COLUMNS):
        return None
    return DOLMA_LICENSE if get_field(first, DOLMA_LICENSE)[0] else None


def _first_record(path: Path) -> dict[str, Any] | None:
    try:
        with (gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")) as stream:
            for raw in stream:
                if raw.strip():
                    record = json.loads(raw)
                    return record if isinstance(record, dict) else None
    except (OSError, ValueError, EOFError):
        return None  # reading the rows reports it, with its line
    return None
