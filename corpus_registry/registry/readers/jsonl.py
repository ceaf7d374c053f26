"""JSON Lines files (``.jsonl`` or gzipped ``.jsonl.gz``), one document per line, streamed."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, ClassVar, cast

import orjson
from pydantic import Field

from corpus_registry.errors import ReaderError
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import FileOptions, FileSetReader, default_identifier
from corpus_registry.registry.readers.encoding import AUTO
from corpus_registry.registry.readers.records import RecordOptions, record_identifier, record_to_document


class JsonlOptions(FileOptions, RecordOptions):
    """``encoding: auto`` means UTF-8 here (RFC 8259); name another one if you must."""

    glob: str | list[str] = Field(default_factory=lambda: ["**/*.jsonl", "**/*.jsonl.gz"])


class JsonlReader(FileSetReader):
    """One JSON object per line; blank lines are ignored."""

    kind: ClassVar[str] = "jsonl"
    Options: ClassVar[type[JsonlOptions]] = JsonlOptions
    options: JsonlOptions

    def read(self) -> Iterator[RawDocument]:
        files = self.files()
        encodings = self._resolve_encodings(
            self.options.encodings, [relpath for _, relpath in files]
        )
        self._unit = 0
        for file, relpath in files:
            self.stats["files"] += 1
            encoding = encodings.get(relpath, self.options.encoding)
            yield from self._read_file(file, relpath=relpath, encoding=encoding)

    def identifiers(self) -> Iterator[tuple[str, str]]:
        files = self.files()
        encodings = self._resolve_encodings(self.options.encodings, [relpath for _, relpath in files])
        self._unit = 0
        for file, relpath in files:
            base = default_identifier(relpath.removesuffix(".gz"))
            for number, record, where in self._records(file, relpath=relpath,
                                                       encoding=encodings.get(relpath, self.options.encoding)):
                yield record_identifier(record, options=self.options, where=where,
                                        fallback_id=f"{base}/{number}"), where

    def _records(self, file: Path, *, relpath: str, encoding: str) -> Iterator[tuple[int, dict[str, object], str]]:
        """``(line number, record, where)`` of this partition's records in ``file``."""
        encoding = "utf-8-sig" if encoding == AUTO else encoding
        utf8 = encoding in ("utf-8", "utf-8-sig")
        with _open(file, relpath=relpath) as stream:
            for number, raw in _lines(stream, relpath=relpath):
                if not raw.strip():
                    continue
                self._unit += 1
                if not self._mine(self._unit - 1):
                    continue
                where = f"{relpath}:{number}"
                if utf8 and (fast := _fast_parse(raw)) is not None:
                    yield number, fast, where
                    continue
                line = _decode_line(
                    raw,
                    encoding=encoding if number == 1 else _no_sig(encoding),
                    where=where,
                    relpath=relpath,
                )
                del raw
                if not line.strip():
                    continue
                yield number, _parse(line, where=where), where

    def _read_file(self, file: Path, *, relpath: str, encoding: str) -> Iterator[RawDocument]:
        base = default_identifier(relpath.removesuffix(".gz"))
        for number, record, where in self._records(file, relpath=relpath, encoding=encoding):
            document = record_to_document(
                record,
                options=self.options,
                where=where,
                relpath=relpath,
                fallback_id=f"{base}/{number}",
            )
            del record
            document.extra["line"] = number
            if self._keep(document, where=where):
                yield document


def _open(file: Path, *, relpath: str) -> IO[bytes]:
    try:
        if file.name.endswith(".gz"):
            return cast(IO[bytes], gzip.open(file, "rb"))
        return file.open("rb")
    except OSError as e:
        raise ReaderError(f"{relpath}: cannot open ({e.strerror})", file=str(file)) from e


def _lines(stream: IO[bytes], *, relpath: str) -> Iterator[tuple[int, bytes]]:
    """Numbered lines; a damaged or truncated gzip file is a ReaderError naming the file and line."""
    number = 0
    try:
        for number, raw in enumerate(stream, start=1):  # noqa: B007 - number is read after the loop
            yield number, raw
    except (OSError, EOFError, zlib.error) as e:
        raise ReaderError(f"{relpath}: cannot read past line {number} ({str(e) or type(e).__name__})",
                          hint="the file is damaged or truncated: fetch it again, or exclude it with the reader's "
                               "glob or exclude option", file=relpath) from e


def _no_sig(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _decode_line(raw: bytes, *, encoding: str, where: str, relpath: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise ReaderError(
            f"{where}: cannot decode byte {e.start} of the line as {encoding} ({e.reason})",
            hint=f"JSON Lines should be UTF-8; if this file is not, set "
            f"encodings: {{'{relpath}': ENCODING}}",
            file=where,
        ) from e


def _fast_parse(raw: bytes) -> dict[str, object] | None:
    """The record of a UTF-8 line by orjson (twice the speed of :mod:`json` on the decoded line, no
    decoding), when its answer is certainly the standard parser's: a JSON object without a number
    that is not an integer (orjson reads an integer beyond 64 bits as a float, :mod:`json` exactly).
    None otherwise (invalid UTF-8 or JSON, a BOM, a lone surrogate, a float anywhere...): the line
    then takes the standard path, which gives the record or the error it always gave."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(record) is not dict:
        return None
    pending: list[dict[str, object] | list[object]] = [record]
    while pending:  # no recursion: orjson accepts nesting deeper than Python's recursion limit
        container = pending.pop()
        for value in container.values() if type(container) is dict else container:
            kind = type(value)
            if kind is float:
                return None
            if kind is dict or kind is list:
                pending.append(value)  # type: ignore[arg-type]
    return record


def _parse(line: str, *, where: str) -> dict[str, object]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise ReaderError(
            f"{where}: invalid JSON ({e.msg} at column {e.colno})",
            hint="each line must be one complete JSON object",
            file=where,
        ) from e
    if not isinstance(record, dict):
        raise ReaderError(
            f"{where}: expected a JSON object, got {type(record).__name__}",
            hint="each line must be one JSON object with the text and its fields",
            file=where,
        )
    return record
