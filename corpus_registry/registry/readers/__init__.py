"""Streaming readers: a source's files in, :class:`RawDocument` out, one at a time.

``get_reader(kind, base_dir=..., options=...)`` validates the reader options a user wrote in
``sources.yaml`` and returns a :class:`Reader`; ``reader.read()`` streams documents and
``reader.stats`` counts files, documents and skips.

    kind        reader            one document per
    gutenberg   GutenbergReader   Project Gutenberg text file (boilerplate stripped)
    text        TextReader        text file
    markdown    MarkdownReader    Markdown file
    jsonl       JsonlReader       line of a .jsonl / .jsonl.gz file
    dolma       DolmaReader       line of a dolma / Common Pile .json.gz file (nested metadata)
    parquet     ParquetReader     row of a Parquet file
    hf_disk     HfDiskReader      row of a dataset saved with ``save_to_disk``
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from corpus_registry.errors import ConfigError
from corpus_registry.registry.readers.base import Reader, ReaderOptions
from corpus_registry.registry.readers.dolma import DolmaReader
from corpus_registry.registry.readers.encoding import decode_bytes
from corpus_registry.registry.readers.gutenberg import GutenbergReader
from corpus_registry.registry.readers.gutenberg_strip import strip_boilerplate
from corpus_registry.registry.readers.hf_disk import HfDiskReader
from corpus_registry.registry.readers.jsonl import JsonlReader
from corpus_registry.registry.readers.markdown import MarkdownReader
from corpus_registry.registry.readers.parquet import ParquetReader
from corpus_registry.registry.readers.text import TextReader

__all__ = [
    "READERS",
    "DolmaReader",
    "GutenbergReader",
    "HfDiskReader",
    "JsonlReader",
    "MarkdownReader",
    "ParquetReader",
    "Reader",
    "ReaderOptions",
    "TextReader",
    "decode_bytes",
    "get_reader",
    "strip_boilerplate",
]

READERS: dict[str, type[Reader]] = {
    cls.kind: cls
    for cls in (
        GutenbergReader,
        TextReader,
        MarkdownReader,
        JsonlReader,
        DolmaReader,
        ParquetReader,
        HfDiskReader,
    )
}


def get_reader(kind: str, *, base_dir: Path, options: Mapping[str, object]) -> Reader:
    """The reader for ``kind`` with validated ``options``; ConfigError names what is wrong."""
    cls = READERS.get(kind)
    if cls is None:
        raise ConfigError(
            f"unknown reader kind {kind!r}; valid kinds: {', '.join(sorted(READERS))}",
            field="reader",
        )
    try:
        parsed = cls.Options.model_validate(dict(options))
    except ValidationError as e:
        raise _config_error(kind, cls, e) from e
    return cls(parsed, base_dir=base_dir)


def _config_error(kind: str, cls: type[Reader], error: ValidationError) -> ConfigError:
    valid = ", ".join(sorted(cls.Options.model_fields))
    first = error.errors()[0]
    option = ".".join(str(part) for part in first["loc"]) or "options"
    if first["type"] == "extra_forbidden":
        message = f"{kind} reader: unknown option {option!r}"
    elif first["type"] == "missing":
        message = f"{kind} reader: option {option!r} is required"
    else:
        message = f"{kind} reader: option {option!r}: {first['msg']}"
    more = error.error_count() - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(f"{message}; valid options: {valid}", field=option, reader=kind)
