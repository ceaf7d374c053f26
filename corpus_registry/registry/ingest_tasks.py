"""Ingest as independent tasks: a source cut into contiguous slices, each one committed on its own.

The Ray driver (:mod:`corpus_registry.registry.ray_ingest`) runs one task per slice on any node;
this module owns what such a task does, and needs no Ray:

- :func:`plan_slices` cuts a source by its reader's natural unit: one file for folder readers
  (files grouped when there are more than ``max_tasks``), row groups for Parquet, runs of lines
  for JSONL. A slice is ``(start, stop)`` in the reader's unit numbering (:meth:`Reader.ranged`).
- :func:`ingest_slice` commits a slice batch by batch, like a local worker, and may be run again
  after it died: batches are cut the same way every time and each commits atomically, so a batch
  whose every document this run already wrote (same identifier, same sha256) is recognised and
  skipped, neither written nor counted twice.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus_registry.registry.db.models import Document, Source
from corpus_registry.registry.ingest import (
    _READ_COUNTS,
    IngestStats,
    _batches,
    _Prepared,
    _SourceIngest,
    source_reader,
)
from corpus_registry.registry.langid import LanguageIdentifier
from corpus_registry.registry.readers import Reader
from corpus_registry.registry.readers.base import FileReader
from corpus_registry.registry.readers.jsonl import JsonlReader
from corpus_registry.registry.readers.parquet import ParquetReader
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.unique_ids import duplicate_error, first_duplicate, scan, suspects

Slice = tuple[int, int]
#: past any real unit number: the last slice of a source is open-ended
END = 2**62
ROWS_PER_TASK = 100_000  # records per slice of a JSONL or Parquet source (whole row groups)


def plan_slices(reader: Reader, *, max_tasks: int, rows_per_task: int = ROWS_PER_TASK) -> list[Slice]:
    """Contiguous unit ranges covering the whole source, in reading order (the last open-ended)."""
    if isinstance(reader, FileReader):
        sizes = [1] * len(reader.files())
    elif isinstance(reader, ParquetReader):
        sizes = [pq.ParquetFile(file).metadata.row_group(i).num_rows
                 for file, _ in reader.files() for i in range(pq.ParquetFile(file).metadata.num_row_groups)]
    elif isinstance(reader, JsonlReader):  # runs of lines, across files
        lines = sum(_line_count(file) for file, _ in reader.files())  # an upper bound: blank lines are no unit
        per_task = max(rows_per_task, -(-lines // max(1, max_tasks)))
        starts = list(range(0, max(lines, 1), per_task))
        return [(a, b) for a, b in zip(starts, starts[1:] + [END], strict=True)]
    else:  # a reader without a cheap unit count is one task
        return [(0, END)]
    total = sum(sizes)
    if total == 0:
        return [(0, END)]
    per_task = max(1, -(-total // max(1, max_tasks)))
    if isinstance(reader, ParquetReader):
        per_task = max(per_task, rows_per_task)
    slices: list[Slice] = []
    start = unit = 0
    for size in sizes:  # cut only between files / row groups
        unit += size
        if unit - start >= per_task:
            slices.append((start, unit))
            start = unit
    if start < unit or not slices:
        slices.append((start, unit))
    slices[-1] = (slices[-1][0], END)
    return slices


def _line_count(file: Path) -> int:
    opener = gzip.open if file.name.endswith(".gz") else open
    lines = 0
    with opener(file, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines + 1


def scan_slice(source: Source, piece: Slice) -> bytes:
    """The identifier hashes of one slice (for the duplicate check across all slices)."""
    return scan(source_reader(source).ranged(*piece))


def check_identifiers(source: Source, keys: Sequence[bytes]) -> None:
    """Raise the first duplicate identifier in reading order, if the slices' hashes show one."""
    repeated = suspects(keys)
    if repeated:
        found = first_duplicate(source_reader(source), repeated)
        if found is not None:
            raise duplicate_error(source.slug, *found)


def ingest_slice(
    registry: Registry,
    source: Source,
    run_id: int,
    langid: LanguageIdentifier,
    piece: Slice,
    advance: Callable[[int, int], None],
) -> IngestStats:
    """Commit one slice batch by batch, each batch's counts added to its run in the same transaction;
    batches an earlier attempt of this task committed are skipped (``resumed`` in ``skipped``)."""
    job = _SourceIngest(registry, source, langid)
    reader = source_reader(source).ranged(*piece)
    resumed = 0
    try:
        for raw_batch in _batches(reader.read()):
            prepared = job.prepare_batch(raw_batch)
            del raw_batch
            docs, nbytes = len(prepared), sum(p.size for p in prepared)
            with registry.session() as s:
                if _committed_by_run(s, source.id, run_id, prepared):
                    resumed += docs
                    continue
                job.commit(s, run_id, prepared, nbytes)
            del prepared
            advance(docs, nbytes)
    finally:
        job.done_writing()
    job.stats.skipped = {k: v for k, v in reader.stats.items() if k not in _READ_COUNTS and v}
    if resumed:
        job.stats.skipped["resumed"] = resumed
    return job.stats


def _committed_by_run(session: Session, source_id: int, run_id: int, batch: Sequence[_Prepared]) -> bool:
    """True when this run already wrote every document of ``batch`` with the same text: the batch
    was committed by an earlier attempt of the task (a batch commits whole or not at all)."""
    ids = [p.raw.identifier for p in batch]
    written: dict[str, str] = {ident: sha for ident, sha in session.execute(
        select(Document.identifier, Document.sha256).where(
            Document.source_id == source_id, Document.ingest_run_id == run_id, Document.identifier.in_(ids)))}
    return len(written) == len(batch) and all(written.get(p.raw.identifier) == p.sha256 for p in batch)
