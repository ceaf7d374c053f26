"""Records (JSON objects, Parquet rows, dataset rows) to documents, by user-named fields.

Shared by the JSONL, dolma, Parquet and ``datasets`` readers so that the field options mean the same
thing everywhere and errors name the same things: the place (``file:line`` or ``file row N``)
and the field.

Every ``*_field`` option is a path: a key, or keys joined by dots into nested objects, as dolma
and the Common Pile keep a record's licence (``metadata.license``). A key that itself contains
dots is matched first (``{"metadata.license": …}``). A ``license_field`` is a promise that every
record carries its licence there: a record without one is an error naming its file and line,
never a silent fallback to the source's licence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator

from corpus_registry.errors import CorpusRegistryError, ReaderError
from corpus_registry.registry import licences
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import ReaderOptions
from corpus_registry.registry.readers.markup import Markup, text_without_markup

_METADATA_FIELDS = ("title", "creator", "date", "url", "license", "language")


class RecordOptions(ReaderOptions):
    """Which record field holds what. ``id_field: null`` numbers records instead. ``markup: strip``
    reads a text that holds HTML tags or entities as HTML (a crawl's ``text`` field), line breaks
    kept; texts without any are left as they are (the default, ``keep``, leaves every text)."""

    markup: Markup = "keep"
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

    @field_validator("text_field", "id_field", "title_field", "creator_field", "date_field", "url_field",
                     "license_field", "language_field")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else check_path(value)

    @field_validator("extra_fields")
    @classmethod
    def _paths(cls, values: list[str]) -> list[str]:
        return [check_path(v) for v in values]

    def fields(self) -> list[str]:
        """Every field (path) the options name, text first, without repeats."""
        named = [self.text_field, self.id_field]
        named += [getattr(self, f"{name}_field") for name in _METADATA_FIELDS]
        named += self.extra_fields
        return list(dict.fromkeys(name for name in named if name))


def check_path(path: str) -> str:
    """A field path as a user wrote it: a key, or dot-separated keys (``metadata.license``)."""
    if not isinstance(path, str) or not path.strip() or path != path.strip():
        raise ValueError(f"field path {path!r} is empty or has blanks around it")
    if any(not part for part in path.split(".")):
        raise ValueError(f"field path {path!r} has an empty part (two dots in a row, or a dot at an end)")
    if any(ord(c) < 32 for c in path):
        raise ValueError(f"field path {path!r} holds a control character")
    return path


def get_field(record: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(found, value)`` of ``path`` in ``record``: a key, else dotted keys into nested objects
    (the longest key that matches at each level first, so keys with dots in them work too)."""
    if path in record:
        return True, record[path]
    return _dig(record, path.split("."))


def _dig(node: Any, parts: Sequence[str]) -> tuple[bool, Any]:
    if not parts:
        return True, node
    if not isinstance(node, Mapping):
        return False, None
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in node:
            found, value = _dig(node[key], parts[k:])
            if found:
                return True, value
    return False, None


def columns_for(paths: Sequence[str], columns: Sequence[str]) -> list[str | None]:
    """The top-level column each path reads (the path itself, or its first part), None if none."""
    present = set(columns)
    out: list[str | None] = []
    for path in paths:
        if path in present:
            out.append(path)
            continue
        parts = path.split(".")
        out.append(next((".".join(parts[:k]) for k in range(len(parts) - 1, 0, -1)
                         if ".".join(parts[:k]) in present), None))
    return out


def check_columns(options: RecordOptions, columns: list[str], *, where: str) -> list[str]:
    """The columns to read for the fields the options name; fails before reading rows when a field
    is not a column of the file (nor inside one)."""
    paths = options.fields()
    found = columns_for(paths, columns)
    missing = [p for p, c in zip(paths, found) if c is None]
    if missing:
        raise ReaderError(
            f"{where}: no field {missing[0]!r} (columns: {', '.join(columns) or 'none'})",
            hint="set the reader's *_field options to existing columns (dotted paths reach into nested ones)",
            file=where,
            field=missing[0],
        )
    return list(dict.fromkeys(c for c in found if c is not None))


def record_to_document(
    record: Mapping[str, Any],
    *,
    options: RecordOptions,
    where: str,
    relpath: str | None,
    fallback_id: str,
) -> RawDocument:
    """Map one record to a document; ``where`` (``data.jsonl:12``) goes into every error."""
    has_text, text = get_field(record, options.text_field)
    if not has_text:
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
    extra = {name: get_field(record, name)[1] for name in options.extra_fields}
    if options.markup == "strip" and text:
        stripped = text_without_markup(text)
        if stripped != text:
            text = stripped
            extra["markup"] = "strip"
    metadata = {
        name: _as_str(get_field(record, field)[1]) if field else None
        for name in _METADATA_FIELDS
        for field in [getattr(options, f"{name}_field")]
    }
    if options.license_field:
        metadata["license"] = _license(record, options.license_field, where=where)
    if metadata["license"] is not None:
        metadata["license"] = options.license_map.get(metadata["license"], metadata["license"])
    return RawDocument(
        identifier=_identifier(record, options=options, where=where, fallback_id=fallback_id),
        text=text,
        path=relpath,
        extra=extra,
        **metadata,
    )


def _license(record: Mapping[str, Any], field: str, *, where: str) -> str:
    """The record's licence label at ``field``: a string, or a list of them (all apply: AND)."""
    found, value = get_field(record, field)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v.strip() for v in value):
        value = " AND ".join(value) if len(value) > 1 else value[0]
    if not found or value is None or (isinstance(value, str) and not value.strip()):
        raise ReaderError(
            f"{where}: no licence in field {field!r}",
            hint="every record must carry its licence label there; remove 'license_field' to give every "
            "record its source's licence instead",
            file=where,
            field=field,
        )
    if not isinstance(value, (str, int, float)):
        raise ReaderError(f"{where}: field {field!r} holds {type(value).__name__}, not a licence label",
                          file=where, field=field)
    return str(value)


def record_identifier(
    record: Mapping[str, Any], *, options: RecordOptions, where: str, fallback_id: str
) -> str:
    """The record's identifier (``id_field``), or ``fallback_id`` when records are numbered."""
    return _identifier(record, options=options, where=where, fallback_id=fallback_id)


def _identifier(
    record: Mapping[str, Any], *, options: RecordOptions, where: str, fallback_id: str
) -> str:
    if options.id_field is None:
        return fallback_id
    value = _as_str(get_field(record, options.id_field)[1])
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
