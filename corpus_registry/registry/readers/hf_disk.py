"""A ``datasets`` dataset saved with ``save_to_disk``: memory-mapped Arrow, read in batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from corpus_registry.errors import ReaderError
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import Reader
from corpus_registry.registry.readers.records import RecordOptions, check_columns, record_to_document

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
        dataset = self._dataset()
        where = self._where()
        columns = check_columns(self.options, list(dataset.column_names), where=where)
        row = 0
        for batch in dataset.select_columns(columns).iter(batch_size=self.options.batch_size):
            for i in range(len(batch[columns[0]])):
                if not self._mine(row):
                    row += 1
                    continue
                record = {name: batch[name][i] for name in columns}
                place = f"{where} row {row}"
                document = record_to_document(
                    record,
                    options=self.options,
                    where=place,
                    relpath=None,
                    fallback_id=f"{self.options.split or 'row'}/{row}",
                )
                document.extra["row"] = row
                row += 1
                if self._keep(document, where=place):
                    yield document

    def _where(self) -> str:
        split = self.options.split
        return f"{self.options.path}[{split}]" if split else str(self.options.path)

    def _dataset(self) -> Dataset:
        self._require_root()
        from datasets import Dataset, DatasetDict, load_from_disk  # slow import: only here

        try:
            loaded = load_from_disk(str(self.root))
        except (FileNotFoundError, ValueError) as e:
            raise ReaderError(
                f"{self.kind}: {self.options.path} is not a dataset saved with save_to_disk ({e})",
                hint="point 'path' at the folder given to Dataset.save_to_disk",
                file=str(self.root),
            ) from e
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
