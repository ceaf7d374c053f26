"""A ``datasets`` dataset saved with ``save_to_disk``: memory-mapped Arrow, read in batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from corpus_registry.errors import ReaderError
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import Reader
from corpus_registry.registry.readers.parquet import DAMAGED
from corpus_registry.registry.readers.records import (
    RecordOptions,
    check_columns,
    columns_for,
    record_identifier,
    record_to_document,
)

if TYPE_CHECKING:
    from datasets import Dataset


class HfDiskOptions(RecordOptions):
    """``split`` picks one split of a saved ``DatasetDict`` (needed when it has several)."""

    split: str | None = None
    batch_size: int = Field(default=1000, ge=1)


class HfDiskReader(Reader):
    """One document per row of a dataset saved with ``Dataset.save_to_disk``."""

    kind: ClassVar[str] = "hf_disk"
    Options: ClassVar[type[HfDiskOptions]] = HfDiskOptions
    options: HfDiskOptions

    def describe(self) -> str:
        try:
            dataset = self._dataset()
        except ReaderError as e:
            return f"{self.kind}: {self.options.path} ({e})"
        split = f" (split {self.options.split})" if self.options.split else ""
        return f"{self.kind}: {dataset.num_rows} rows in {self.options.path}{split}"

    def read(self) -> Iterator[RawDocument]:
        for row, record, place in self._records(None):
            document = record_to_document(
                record,
                options=self.options,
                where=place,
                relpath=None,
                fallback_id=f"{self.options.split or 'row'}/{row}",
            )
            document.extra["row"] = row
            if self._keep(document, where=place):
                yield document

    def identifiers(self) -> Iterator[tuple[str, str]]:
        id_field = self.options.id_field
        for row, record, place in self._records([id_field] if id_field else []):
            yield record_identifier(record, options=self.options, where=place,
                                    fallback_id=f"{self.options.split or 'row'}/{row}"), place

    def _records(self, fields: list[str] | None) -> Iterator[tuple[int, dict[str, Any], str]]:
        """``(row, record, where)`` of this partition's rows (``fields``: only those field paths'
        columns); a damaged Arrow file is a ReaderError naming the dataset folder and the file."""
        dataset = self._dataset()
        where = self._where()
        names = list(dataset.column_names)
        if fields is None:
            columns = check_columns(self.options, names, where=where)
        else:
            columns = [c for c in dict.fromkeys(columns_for(fields, names)) if c is not None]
        row = 0
        try:
            if not columns:
                for row in range(dataset.num_rows):
                    if self._mine(row):
                        yield row, {}, f"{where} row {row}"
                return
            for batch in dataset.select_columns(columns).iter(batch_size=self.options.batch_size):
                for i in range(len(batch[columns[0]])):
                    if self._mine(row):
                        yield row, {name: batch[name][i] for name in columns}, f"{where} row {row}"
                    row += 1
        except DAMAGED as e:
            raise self._damaged(e, row=row) from e

    def _damaged(self, error: BaseException, *, row: int | None = None) -> ReaderError:
        files = sorted(p.name for p in self.root.rglob("*.arrow")) if self.root.is_dir() else []
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        at = f" near row {row}" if row is not None else ""
        return ReaderError(
            f"{self.kind}: {self.options.path}: a damaged Arrow file{at} ({', '.join(files[:3]) or 'no .arrow file'}: "
            f"{detail})",
            hint="the dataset folder is damaged or truncated: save it again with Dataset.save_to_disk",
            file=str(self.root))

    def _where(self) -> str:
        split = self.options.split
        return f"{self.options.path}[{split}]" if split else str(self.options.path)

    def _dataset(self) -> Dataset:
        self._require_root()
        from datasets import Dataset, DatasetDict, load_from_disk  # slow import: only here

        try:
            loaded = load_from_disk(str(self.root))
        except (FileNotFoundError, NotADirectoryError) as e:
            raise ReaderError(
                f"{self.kind}: {self.options.path} is not a dataset saved with save_to_disk ({e})",
                hint="point 'path' at the folder given to Dataset.save_to_disk",
                file=str(self.root),
            ) from e
        except DAMAGED as e:
            raise self._damaged(e) from e
        except ValueError as e:
            raise ReaderError(f"{self.kind}: {self.options.path} is not a dataset saved with save_to_disk ({e})",
                              hint="point 'path' at the folder given to Dataset.save_to_disk",
                              file=str(self.root)) from e
        split = self.options.split
        if isinstance(loaded, DatasetDict):
            splits = sorted(loaded)
            if split is None and len(splits) == 1:
                return loaded[splits[0]]
            if split not in loaded:
                raise ReaderError(
                    f"{self.kind}: {self.options.path} has splits {', '.join(splits)}; "
                    f"{'choose one with' if split is None else f'no split {split!r}, fix'} "
                    f"'split'",
                    field="split",
                )
            return loaded[split]
        if not isinstance(loaded, Dataset):
            raise ReaderError(f"{self.kind}: {self.options.path} is not a Dataset", field="path")
        if split is not None:
            raise ReaderError(
                f"{self.kind}: {self.options.path} is a single dataset without splits; "
                f"remove 'split' (got {split!r})",
                field="split",
            )
        return loaded
