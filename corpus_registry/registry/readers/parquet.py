"""Parquet files, read in record batches with pyarrow so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from corpus_registry.errors import ReaderError
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import FileSetOptions, FileSetReader, default_identifier
from corpus_registry.registry.readers.records import (
    RecordOptions,
    check_columns,
    columns_for,
    record_identifier,
    record_to_document,
)

#: what pyarrow raises on a damaged file: ArrowInvalid/ArrowIOError are ValueError/OSError, the rest ArrowException
DAMAGED = (OSError, ValueError, pa.ArrowException)


class ParquetOptions(FileSetOptions, RecordOptions):
    glob: str | list[str] = "**/*.parquet"
    batch_size: int = Field(default=1024, ge=1)


class ParquetReader(FileSetReader):
    """One document per row; only the columns the options name are read. A damaged file (bad
    footer, corrupt data page, truncated) is a ReaderError naming it, wherever the damage is met."""

    kind: ClassVar[str] = "parquet"
    Options: ClassVar[type[ParquetOptions]] = ParquetOptions
    options: ParquetOptions

    def read(self) -> Iterator[RawDocument]:
        self._unit = 0
        for file, relpath in self.files():
            self.stats["files"] += 1
            base = default_identifier(relpath)
            for row, record in self._rows(file, relpath=relpath, columns=None):
                where = f"{relpath} row {row}"
                document = record_to_document(record, options=self.options, where=where, relpath=relpath,
                                              fallback_id=f"{base}/{row}")
                document.extra["row"] = row
                if self._keep(document, where=where):
                    yield document

    def identifiers(self) -> Iterator[tuple[str, str]]:
        self._unit = 0
        id_field = self.options.id_field
        for file, relpath in self.files():
            base = default_identifier(relpath)
            for row, record in self._rows(file, relpath=relpath, columns=[id_field] if id_field else []):
                where = f"{relpath} row {row}"
                yield record_identifier(record, options=self.options, where=where, fallback_id=f"{base}/{row}"), where

    def _rows(self, file: Path, *, relpath: str, columns: list[str] | None) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(row number, record)`` of this partition's rows, reading the columns the options name
        (``columns``: only those field paths' columns)."""
        try:
            parquet = pq.ParquetFile(file)
        except DAMAGED as e:
            raise _damaged(relpath, e) from e
        with parquet:
            names = parquet.schema_arrow.names
            wanted = check_columns(self.options, names, where=relpath) if columns is None else [
                c for c in dict.fromkeys(columns_for(columns, names)) if c is not None]
            if not wanted:  # numbered rows: only the row count is needed
                batches: Iterator[Any] = (range(g.num_rows) for g in _row_groups(parquet))
            else:
                batches = parquet.iter_batches(batch_size=self.options.batch_size, columns=wanted)
            row = 0
            try:
                for batch in batches:
                    records = [{} for _ in batch] if not wanted else batch.to_pylist()
                    for record in records:
                        self._unit += 1
                        if self._mine(self._unit - 1):
                            yield row, record
                        row += 1
            except DAMAGED as e:
                raise _damaged(relpath, e, row=row) from e


def _row_groups(parquet: pq.ParquetFile) -> Iterator[Any]:
    metadata = parquet.metadata
    return (metadata.row_group(i) for i in range(metadata.num_row_groups))


def _damaged(relpath: str, error: BaseException, *, row: int | None = None) -> ReaderError:
    at = f" (after row {row})" if row else ""
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ReaderError(f"{relpath}: not a readable Parquet file{at}: {detail}", file=relpath,
                       hint="the file is damaged or truncated: fetch it again, or exclude it with the reader's "
                            "glob or exclude option")
