"""Parquet files, read in record batches with pyarrow so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow.parquet as pq
from pydantic import Field

from corpus_registry.errors import ReaderError
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import FileSetOptions, FileSetReader, default_identifier
from corpus_registry.registry.readers.records import RecordOptions, check_columns, record_to_document


class ParquetOptions(FileSetOptions, RecordOptions):
    glob: str | list[str] = "**/*.parquet"
    batch_size: int = Field(default=1024, ge=1)


class ParquetReader(FileSetReader):
    """One document per row; only the columns the options name are read."""

    kind: ClassVar[str] = "parquet"
    Options: ClassVar[type[ParquetOptions]] = ParquetOptions
    options: ParquetOptions

    def read(self) -> Iterator[RawDocument]:
        self._unit = 0
        for file, relpath in self.files():
            self.stats["files"] += 1
            yield from self._read_file(file, relpath=relpath)

    def _read_file(self, file: Path, *, relpath: str) -> Iterator[RawDocument]:
        try:
            parquet = pq.ParquetFile(file)
        except (OSError, ValueError) as e:  # ArrowInvalid is a ValueError
            raise ReaderError(f"{relpath}: not a readable Parquet file ({e})", file=relpath) from e
        with parquet:
            columns = check_columns(self.options, parquet.schema_arrow.names, where=relpath)
            base = default_identifier(relpath)
            row = 0
            batches = parquet.iter_batches(batch_size=self.options.batch_size, columns=columns)
            for batch in batches:
                for record in batch.to_pylist():
                    self._unit += 1
                    if not self._mine(self._unit - 1):
                        row += 1
                        continue
                    where = f"{relpath} row {row}"
                    document = record_to_document(
                        record,
                        options=self.options,
                        where=where,
                        relpath=relpath,
                        fallback_id=f"{base}/{row}",
                    )
                    document.extra["row"] = row
                    row += 1
                    if self._keep(document, where=where):
                        yield document
