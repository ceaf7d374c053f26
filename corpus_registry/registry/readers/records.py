"""Records (JSON objects, Parquet rows, dataset rows) to documents, by user-named fields.

Shared by the JSONL, Parquet and ``datasets`` readers so that the field options mean the same
thing everywhere and errors name the same things: the place (``file:line`` or ``file row N``)
and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from corpus_registry.errors import ReaderError
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

    def fields(self) -> list[str]:
        """Every field the options name, text first, without repeats."""
        named = [self.text_field, self.id_field]
        named += [getattr(self, f"{name}_field") for name in _METADATA_FIELDS]
        named += self.extra_fields
        return list(dict.fromkeys(name for name in named if name))


def check_columns(options: RecordOptions, columns: list[str], *, where: str) -> None:
    """Fail before reading rows when a named field is not a column of the file."""
    missing = [name for name in options.fields() if name not in columns]
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
    if options.text_field not in record:
        raise ReaderError(
            f"{where}: no field {options.text_field!r} (fields: {', '.join(record) or 'none'})",
            hint="set 'text_field' to the field that holds the text",
            file=where,
            field=options.text_field,
        )
    text = record[options.text_field]
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ReaderError(
            f"{where}: field {options.text_field!r} is {type(text).__name__}, not text",
            file=where,
            field=options.text_field,
        )
    metadata = {
        name: _as_str(record.get(field)) if field else None
        for name in _METADATA_FIELDS
        for field in [getattr(options, f"{name}_field")]
    }
    return RawDocument(
        identifier=_identifier(record, options=options, where=where, fallback_id=fallback_id),
        text=text,
        path=relpath,
        extra={name: record.get(name) for name in options.extra_fields},
        **metadata,
    )


def _identifier(
    record: Mapping[str, Any], *, options: RecordOptions, where: str, fallback_id: str
) -> str:
    if options.id_field is None:
        return fallback_id
    value = _as_str(record.get(options.id_field))
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
