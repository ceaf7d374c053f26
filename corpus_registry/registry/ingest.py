"""Ingest: read a source, normalise, hash, identify language, store text, register metadata.

Work is committed in batches, each in one transaction (blobs first, then rows), so an
interrupted ingest loses nothing already committed and a re-run resumes: unchanged documents are
recognised by identifier + sha256 and skipped before any language identification is spent on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xxhash
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tqdm import tqdm

from corpus_registry.config import env_int
from corpus_registry.errors import ConfigError, NotFoundError, ReaderError
from corpus_registry.executors.worker_memory import give_back
from corpus_registry.registry import licences
from corpus_registry.registry.bulk_insert import bulk_writes, insert_rows, table_of
from corpus_registry.registry.db.models import Blob, Document, Source, Withdrawal, utcnow
from corpus_registry.registry.documents import RawDocument, count_words, normalize_text, text_digest
from corpus_registry.registry.fields import check_identifier, check_metadata
from corpus_registry.registry.ingest_pool import Pool, report
from corpus_registry.registry.ingest_runs import count_batch, finish_run, start_run
from corpus_registry.registry.langid import LanguageIdentifier, backend_name, get_identifier
from corpus_registry.registry.languages import canonical_language
from corpus_registry.registry.readers import Reader, get_reader
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.standing import load_standings
from corpus_registry.registry.unique_ids import HINT, SeenKeys, duplicate_error, first_duplicate, scan, suspects

BATCH_DOCS = 4000  # override with $CORPUS_REGISTRY_BATCH_DOCS (smaller batches commit more often)
BATCH_BYTES = 64 * 1024 * 1024
TRIM_EVERY = 8  # batches between two returns of the freed heap (each walks the heap: ~9 % of ingest if every batch)
#: Metadata that may change without the text changing (updated in place, no new version).
META_FIELDS = ("license", "license_tier", "review", "declared_license", "title", "creator", "date", "url", "path")


@dataclass(slots=True)
class IngestStats:
    source: str
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    metadata_updated: int = 0
    bytes: int = 0
    seconds: float = 0.0
    languages: dict[str, int] = field(default_factory=dict)
    #: what the reader skipped or repaired: skipped_binary, skipped_symlink_outside, replaced_bytes, …
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def docs_per_s(self) -> float:
        return self.seen / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class _Prepared:
    raw: RawDocument
    text: str
    sha256: str
    size: int  # UTF-8 bytes of ``text``, measured once
    meta: dict[str, Any]


def _batches(docs: Iterable[RawDocument]) -> Iterator[list[RawDocument]]:
    max_docs = env_int("CORPUS_REGISTRY_BATCH_DOCS", BATCH_DOCS, minimum=1)
    batch: list[RawDocument] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += len(doc.text)
        if len(batch) >= max_docs or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _SourceIngest:
    """State of one source's ingest; one instance per run."""

    def __init__(self, registry: Registry, source: Source, langid: LanguageIdentifier) -> None:
        self.registry = registry
        self.source = source
        self.langid = langid
        self.overrides: dict[str, dict[str, Any]] = source.overrides or {}
        self.seen_ids = SeenKeys()  # this partition's identifiers, 8 bytes each
        self.stats = IngestStats(source=source.slug)

    def prepare_batch(self, batch: Sequence[RawDocument]) -> list[_Prepared]:
        """The batch's documents checked and normalised, in order: the first problem in reading order
        is raised (a bad or repeated identifier, an empty text, bad metadata)."""
        slug = self.source.slug
        keys: list[int] = []
        bad_identifier: ReaderError | None = None
        for raw in batch:  # NFC: one document, however it is spelt; same limits on every backend
            try:
                raw.identifier = check_identifier(raw.identifier, source=slug, where=raw.path or "record")
            except ReaderError as e:
                bad_identifier = e
                break
            keys.append(xxhash.xxh64_intdigest(raw.identifier.encode("utf-8")))
        repeated = self.seen_ids.add_all(np.array(keys, dtype=np.uint64))
        stop = len(keys) if repeated is None else repeated
        prepared = [self._prepare(raw) for raw in batch[:stop]]
        if repeated is not None:  # found before anything was written unless the source changed meanwhile
            raw = batch[repeated]
            raise ReaderError(f"{slug}: duplicate identifier {raw.identifier!r} ({raw.path or 'record'})",
                              hint=HINT, source=slug, identifier=raw.identifier)
        if bad_identifier is not None:
            raise bad_identifier
        return prepared

    def _prepare(self, raw: RawDocument) -> _Prepared:
        where = raw.path or "record"
        text = normalize_text(raw.text)
        raw.text = ""  # only the normalised text is kept from here on (one copy of a long text, not two)
        if not text:
            raise ReaderError(
                f"{self.source.slug}: document {raw.identifier!r} ({where}) is empty",
                hint="remove it from the source or exclude it with the reader's glob",
            )
        meta = self._meta(raw)
        check_metadata(raw.identifier, meta, source=self.source.slug, where=where)
        sha256, size = text_digest(text)
        return _Prepared(raw=raw, text=text, sha256=sha256, size=size, meta=meta)

    def _meta(self, raw: RawDocument) -> dict[str, Any]:
        """The row's metadata; its licence standing is evaluated when the batch is written, from
        the decisions in force then (the record's own licence label is kept as declared, and a
        label that cannot be mapped goes to review with the label as written kept in ``extra``)."""
        ov = self.overrides.get(raw.identifier, {})
        declared = None
        if raw.license is not None:
            label = licences.label(raw.license)
            declared = label.expression
            if label.raw.strip() != label.expression:
                raw.extra["license_raw"] = label.raw
        return {
            "declared_license": declared,
            "title": ov.get("title", raw.title),
            "creator": ov.get("creator", raw.creator),
            "date": ov.get("date", raw.date),
            "url": ov.get("url", raw.url),
            "path": raw.path,
            "language": self._language(raw, ov.get("language")),
        }

    def _language(self, raw: RawDocument, override: str | None) -> str | None:
        """The override's language code (None: identify it), checked again here (a registry synced
        before codes were validated); a code the reader found must be a language code too."""
        if raw.language is None and override is None:  # the common case: nothing to check
            return None

        def check(value: str, where: str) -> str:
            try:
                return canonical_language(value)
            except ValueError as e:
                raise ReaderError(f"{self.source.slug}: document {raw.identifier!r}: {where}: {e}",
                                  hint="use a BCP 47 code such as fr, en or pt-BR",
                                  source=self.source.slug, identifier=raw.identifier) from e

        if raw.language is not None:
            check(raw.language, "its language field")
        return None if override is None else check(override, "its sources.yaml override")
    def done_writing(self) -> None:
        """SQLite's settings back to its defaults once the batches are written."""
        with self.registry.session() as s:
            bulk_writes(s, on=False)

    def _standings(self, session: Session, batch: Sequence[_Prepared]) -> tuple[set[str], bool]:
        """Evaluate each row's licence standing from the decisions in force now (in the batch's
        transaction); the texts of the batch withdrawn under any identifier, and whether the
        source is withdrawn."""
        conn = session.connection()
        standings = load_standings(conn, source_ids=[self.source.id], identifiers=[p.raw.identifier for p in batch])
        for p in batch:
            v = standings.verdict(self.source.id, p.raw.identifier, p.meta["declared_license"])
            p.meta.update(license=v.license, license_tier=v.tier.value, review=v.review)
        shas = sorted({p.sha256 for p in batch})
        withdrawn = {sha for sha in session.scalars(select(Withdrawal.sha256).where(Withdrawal.sha256.in_(shas)))
                     if sha is not None}
        return withdrawn, standings.source_status.get(self.source.id) == "withdrawn"

    def commit(self, session: Session, run_id: int, batch: Sequence[_Prepared], nbytes: int) -> None:
        """Write ``batch`` and add its counts to the run, in the session's transaction (the caller's
        ``with`` commits both or neither); on SQLite the connection is set up for batch after batch."""
        bulk_writes(session)
        before = (self.stats.added, self.stats.updated, self.stats.unchanged)
        self.write_batch(session, run_id, batch)
        count_batch(session, run_id, seen=len(batch), added=self.stats.added - before[0],
                    updated=self.stats.updated - before[1], unchanged=self.stats.unchanged - before[2],
                    nbytes=nbytes)
        self.stats.seen += len(batch)
        self.stats.bytes += nbytes

    def write_batch(self, session: Session, run_id: int, batch: Sequence[_Prepared]) -> None:
        sid = self.source.id
        withdrawn_texts, source_withdrawn = self._standings(session, batch)
        ids = [p.raw.identifier for p in batch]
        existing = {
            row.identifier: row
            for row in session.execute(
                select(Document.id, Document.identifier, Document.sha256, Document.version,
                       Document.status, Document.language, Document.extra, Document.ingest_run_id,
                       *[getattr(Document, f) for f in META_FIELDS])
                .where(Document.source_id == sid, Document.is_current.is_(True),
                       Document.identifier.in_(ids))
            )
        }
        fresh: list[_Prepared] = []
        superseded: list[int] = []
        for p in batch:
            old = existing.get(p.raw.identifier)
            if old is not None and old.ingest_run_id == run_id:  # another worker of this run wrote it
                raise ReaderError(
                    f"{self.source.slug}: duplicate identifier {p.raw.identifier!r} ({p.raw.path or 'record'}), "
                    "written earlier in this run", hint=HINT, source=self.source.slug, identifier=p.raw.identifier)
            if old is None:
                fresh.append(p)
            elif old.sha256 != p.sha256:
                fresh.append(p)
                superseded.append(old.id)
            else:
                changes = {f: p.meta[f] for f in META_FIELDS if getattr(old, f) != p.meta[f]}
                if (old.extra or {}) != p.raw.extra:  # what the reader knows changed (e.g. a new field)
                    changes["extra"] = dict(p.raw.extra)
                if p.meta["language"] and p.meta["language"] != old.language:
                    changes.update(language=p.meta["language"], language_score=1.0)
                if changes:
                    session.execute(update(Document).where(Document.id == old.id).values(**changes))
                    self.stats.metadata_updated += 1
                self.stats.unchanged += 1
        if not fresh:
            return
        # Language identification only for new or changed texts.
        need_lid = [p for p in fresh if not p.meta["language"]]
        results = iter(self.langid.identify_many([p.text for p in need_lid]))
        # Rows are made before the first write: with SQLite, a write holds the database lock until
        # the commit, so the lock covers only the statements and parallel workers seldom wait.
        rows = []
        now = utcnow()  # one time for the batch: its rows are written in one transaction
        for p in fresh:
            if p.meta["language"]:
                lang, score, mixed = p.meta["language"], 1.0, False
            else:
                r = next(results)
                lang, score, mixed = r.language, r.score, r.mixed
            old = existing.get(p.raw.identifier)
            rows.append({
                "source_id": sid,
                "identifier": p.raw.identifier,
                "version": old.version + 1 if old else 1,
                "is_current": True,
                **{f: p.meta[f] for f in META_FIELDS},
                "language": lang,
                "language_score": round(float(score), 4),
                "mixed_language": bool(mixed),
                "word_count": count_words(p.text),
                "byte_size": p.size,
                "sha256": p.sha256,
                "extra": dict(p.raw.extra),
                "status": (old.status if old and old.status != "active" else
                           "withdrawn" if source_withdrawn or p.sha256 in withdrawn_texts else "active"),
                "ingest_run_id": run_id,
                "created_at": now,
            })
            self.stats.languages[lang] = self.stats.languages.get(lang, 0) + 1
        shas = {p.sha256 for p in fresh}
        stored = set(session.scalars(select(Blob.sha256).where(Blob.sha256.in_(shas))))
        missing = {p.sha256: p for p in fresh if p.sha256 not in stored}
        if missing:
            shard = self.registry.store.put((sha, p.text) for sha, p in missing.items())
            blobs = [{"sha256": sha, "shard": shard, "byte_size": p.size} for sha, p in missing.items()]
            insert_rows(session, table_of(Blob), blobs, ignore_conflicts=True)  # concurrent ingests may add it too
        if superseded:
            session.execute(update(Document).where(Document.id.in_(superseded)).values(is_current=False))
        try:
            insert_rows(session, table_of(Document), rows)
        except IntegrityError as e:
            raise ReaderError(
                f"{self.source.slug}: duplicate identifier in batch starting {rows[0]['identifier']!r}",
                hint=HINT, source=self.source.slug,
            ) from e
        self.stats.added += sum(1 for p in fresh if p.raw.identifier not in existing)
        self.stats.updated += len(superseded)


def load_source(registry: Registry, slug: str) -> Source:
    with registry.session() as s:
        source = s.scalar(select(Source).where(Source.slug == slug))
    if source is None:
        raise NotFoundError(f"no source {slug!r} in the registry",
                            hint="add it to sources.yaml and run `corpus-registry sources sync`")
    return source


def source_reader(source: Source) -> Reader:
    """The source's reader, its path checked to be inside the sources file's folder (or allowed)."""
    reader = get_reader(source.reader_kind, base_dir=Path(source.base_dir or "."), options=source.reader_options)
    try:
        reader.check_inside()
    except ConfigError as e:
        raise ConfigError(f"{source.slug}: {e}", hint=e.hint, source=source.slug, field="path") from e
    return reader


def ingest_source(
    registry: Registry,
    slug: str,
    *,
    langid: LanguageIdentifier | str | None = None,
    progress: bool = True,
    workers: int = 1,
    pool: Pool | None = None,
    break_lock: bool = False,
) -> IngestStats:
    """Ingest one registered source; idempotent and resumable.

    One ingest per source at a time: the run is the source's lock (:mod:`.ingest_runs`). Its
    identifiers are checked for duplicates before anything is written (:mod:`.unique_ids`). With
    ``workers > 1`` the source is split round-robin (files, lines or rows) between worker processes
    that each commit their own batches; the registry ends up the same as with one.
    """
    source = load_source(registry, slug)
    source_reader(source)
    # a name is loaded where it is used: workers load their own model (~90 MB), the parent none
    identifier, backend = (langid, langid.name) if isinstance(langid, LanguageIdentifier) else (None, backend_name(langid))
    run_id = start_run(registry, source, workers=workers, break_lock=break_lock)
    started = time.perf_counter()
    status = "failed"
    stats = IngestStats(source=slug)
    bar = tqdm(desc=slug, unit="doc", disable=None if progress else True, leave=False, dynamic_ncols=True)

    def advance(docs: int, nbytes: int) -> None:
        stats.seen += docs
        stats.bytes += nbytes
        bar.update(docs)
        bar.set_postfix_str(f"{stats.bytes / 1e6 / max(time.perf_counter() - started, 1e-9):.1f} MB/s")

    parts: list[IngestStats] = []
    try:
        if workers <= 1:
            _check_identifiers(source, [scan(source_reader(source))])
            parts = [ingest_partition(registry, source, run_id, identifier or get_identifier(backend), (0, 1),
                                      advance)]
        else:
            with Pool.maybe(pool, workers) as p:
                try:
                    keys = p.map(_scan_worker, registry.url, slug)
                except ReaderError:
                    scan(source_reader(source))  # one process, in reading order: the error one worker gives
                    raise
                _check_identifiers(source, keys)
                parts = p.map(_ingest_worker, registry.url, slug, run_id, backend, advance=advance)
        for part in parts:
            for name in ("added", "updated", "unchanged", "metadata_updated"):
                setattr(stats, name, getattr(stats, name) + getattr(part, name))
            for lang, n in part.languages.items():
                stats.languages[lang] = stats.languages.get(lang, 0) + n
            for what, n in part.skipped.items():
                stats.skipped[what] = stats.skipped.get(what, 0) + n
        stats.seen = sum(p.seen for p in parts)
        stats.bytes = sum(p.bytes for p in parts)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        bar.close()
        stats.seconds = time.perf_counter() - started
        with registry.session() as s:
            finish_run(s, run_id, status=status, skipped=stats.skipped)
    return stats


def _check_identifiers(source: Source, keys: list[bytes]) -> None:
    """Raise the first duplicate identifier in reading order, if the hashes show one."""
    repeated = suspects(keys)
    if repeated:
        found = first_duplicate(source_reader(source), repeated)
        if found is not None:
            raise duplicate_error(source.slug, *found)


#: reader counters that are not skips
_READ_COUNTS = frozenset({"files", "documents"})


def ingest_partition(
    registry: Registry,
    source: Source,
    run_id: int,
    langid: LanguageIdentifier,
    partition: tuple[int, int],
    advance: Callable[[int, int], None],
) -> IngestStats:
    """Read one partition of ``source`` and commit it batch by batch, each batch's counts added to
    its run in the same transaction."""
    job = _SourceIngest(registry, source, langid)
    reader = source_reader(source).partitioned(*partition)
    try:
        for number, raw_batch in enumerate(_batches(reader.read()), start=1):
            prepared = job.prepare_batch(raw_batch)
            del raw_batch
            docs, nbytes = len(prepared), sum(p.size for p in prepared)
            with registry.session() as s:
                job.commit(s, run_id, prepared, nbytes)
            del prepared  # a batch's texts are let go before the next batch is read
            if number % TRIM_EVERY == 0:  # and the heap they held returned: memory stays flat over a long partition
                give_back()
            advance(docs, nbytes)
    finally:
        job.done_writing()
    job.stats.skipped = {k: v for k, v in reader.stats.items() if k not in _READ_COUNTS and v}
    return job.stats


def _scan_worker(url: str, slug: str, partition: tuple[int, int]) -> bytes:
    """In a worker: the identifier hashes of one partition of a source."""
    registry = Registry(url)
    try:
        return scan(source_reader(load_source(registry, slug)).partitioned(*partition))
    finally:
        registry.dispose()


def _ingest_worker(url: str, slug: str, run_id: int, langid_name: str, partition: tuple[int, int]) -> IngestStats:
    """In a worker: ingest one partition of a source, committing batch by batch."""
    registry = Registry(url)
    try:
        source = load_source(registry, slug)
        return ingest_partition(registry, source, run_id, get_identifier(langid_name), partition, report)
    finally:
        registry.dispose()


def ingest(
    registry: Registry,
    slugs: Sequence[str] | None = None,
    *,
    langid: LanguageIdentifier | str | None = None,
    progress: bool = True,
    workers: int = 1,
    break_lock: bool = False,
) -> list[IngestStats]:
    """Ingest the named sources (all registered sources when none are named). ``langid``: an identifier,
    or a backend's name (None: the default), loaded only where documents are identified."""
    if not slugs:
        with registry.session() as s:
            slugs = list(s.scalars(select(Source.slug).where(Source.status == "active").order_by(Source.slug)))
    if workers <= 1:
        return [ingest_source(registry, slug, langid=langid, progress=progress, break_lock=break_lock)
                for slug in slugs]
    with Pool(workers) as pool:
        return [ingest_source(registry, slug, langid=langid, progress=progress, workers=workers, pool=pool,
                              break_lock=break_lock)
                for slug in slugs]
