"""Records (JSON objects, Parquet rows, dataset rows) to documents, by user-named fields.

Shared by the JSONL, dolma, Parquet and ``datasets`` readers so that the field options mean the
same thing everywhere and errors name the same things: the place (``file:line`` or ``file row N``)
and the field. A field may be a dotted path into nested objects (``metadata.license``); a key
that itself holds dots is found first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from corpus_registry.errors import CorpusRegistryError, ReaderError
from corpus_registry.registry import licences
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import ReaderOptions

_METADATA_FIELDS = ("title", "creator", "date", "url", "license", "language")


class RecordOptions(ReaderOptions):
    """Which record field holds what. ``id_field: null`` numbers records instead."""

    text_field: str = "text"
    id_field: str | None = "id"
    title_field: str | None = None
    creator_field: str | None = None
    date_field: str | None = None
    url_field: str | None = None
    license_field: str | None = None
    language_field: str | None = None
    extra_fields: list[str] = Field(default_factory=list)
    license_map: dict[str, str] = Field(
        default_factory=dict, description="licence labels of the records -> SPDX expressions")

    @field_validator("license_map")
    @classmethod
    def _spdx_values(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            return {label: licences.canonical(spdx) for label, spdx in value.items()}
        except CorpusRegistryError as e:
            raise ValueError(str(e)) from e

    def fields(self) -> list[str]:
        """Every field the options name, text first, without repeats."""
        named = [self.text_field, self.id_field]
        named += [getattr(self, f"{name}_field") for name in _METADATA_FIELDS]
        named += self.extra_fields
        return list(dict.fromkeys(name for name in named if name))


def check_columns(options: RecordOptions, columns: list[str], *, where: str) -> None:
    """Fail before reading rows when a named field is not a column of the file."""
    missing = [name for name in options.fields() if name not in columns and name.split(".")[0] not in columns]
    if missing:
        raise ReaderError(
            f"{where}: no field {missing[0]!r} (columns: {', '.join(columns) or 'none'})",
            hint="set the reader's *_field options to existing columns",
            file=where,
            field=missing[0],
        )


def record_to_document(
    record: Mapping[str, Any],
    *,
    options: RecordOptions,
    where: str,
    relpath: str | None,
    fallback_id: str,
) -> RawDocument:
    """Map one record to a document; ``where`` (``data.jsonl:12``) goes into every error."""
    text = lookup(record, options.text_field, missing=_MISSING)
    if text is _MISSING:
        raise ReaderError(
            f"{where}: no field {options.text_field!r} (fields: {', '.join(record) or 'none'})",
            hint="set 'text_field' to the field that holds the text",
            file=where,
            field=options.text_field,
        )
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ReaderError(
            f"{where}: field {options.text_field!r} is {type(text).__name__}, not text",
            file=where,
            field=options.text_field,
        )
    metadata = {
        name: _as_str(lookup(record, field)) if field else None
        for name in _METADATA_FIELDS
        for field in [getattr(options, f"{name}_field")]
    }
    if metadata["license"] is not None:
        metadata["license"] = options.license_map.get(metadata["license"], metadata["license"])
    return RawDocument(
        identifier=_identifier(record, options=options, where=where, fallback_id=fallback_id),
        text=text,
        path=relpath,
        extra={name: lookup(record, name) for name in options.extra_fields},
        **metadata,
    )


_MISSING = object()


def lookup(record: Mapping[str, Any], path: str, *, missing: Any = None) -> Any:
    """``record[path]``, or the value at the dotted ``path`` in nested objects; ``missing`` if absent."""
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return missing
        node = node[part]
    return node


def _identifier(
    record: Mapping[str, Any], *, options: RecordOptions, where: str, fallback_id: str
) -> str:
    if options.id_field is None:
        return fallback_id
    value = _as_str(lookup(record, options.id_field))
    if value is None or not value.strip():
        raise ReaderError(
            f"{where}: missing identifier field {options.id_field!r}",
            hint="give every record an identifier, point 'id_field' at the right field, "
            "or set 'id_field: null' to number records",
            file=where,
            field=options.id_field,
        )
    return value


def _as_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
