"""Build a release: select from the registry, filter, deduplicate, write shards, card and manifest.

Stages run in this order and each records its drops in the funnel:
selected → licence → withdrawn → language → each quality filter → exact dedup → near dedup → kept.
Metadata stages run on registry columns alone; texts are read from the store only for documents
that survive them, once for filtering and signing, once more for writing the kept rows.

The driver holds the candidates as Arrow columns and every document's fate as numpy arrays
indexed by row number, and decides with whole-column operations: its work per document is a few
machine instructions, so a build scales with its workers (the texts are handled only there).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from tqdm import tqdm

from corpus_registry.build import tasks
from corpus_registry.build.candidates import PAGE, CandidateReader, Candidates, SideColumns
from corpus_registry.build.card import render_attribution, render_card
from corpus_registry.build.croissant import write_croissant
from corpus_registry.build.fates import Fates
from corpus_registry.build.filters import build_filters
from corpus_registry.build.funnel import Funnel
from corpus_registry.build.memory import between_phases, return_freed_memory
from corpus_registry.build.out_folder import out_folder, place, pushed_to
from corpus_registry.build.release import (
    ATTRIBUTION,
    CARD,
    FORMAT,
    FUNNEL_PNG,
    MANIFEST,
    OPEN_TYPES,
    REMOVED,
    REMOVED_SCHEMA,
    SHARE_ALIKE_CONFIG,
    dolma_path,
    file_hashes,
    plan_shards,
    safe_config,
    shard_path,
    write_manifest,
    write_shard,
)
from corpus_registry.build.sign_stream import SignStream
from corpus_registry.build.spec import BuildSpec
from corpus_registry.build.tasks import STORE_CACHE, ShardTask, filter_and_sign, write_shard_task
from corpus_registry.build.tokens import TokenizerRef, resolve_tokenizer
from corpus_registry.errors import BuildError, StoreError
from corpus_registry.executors import Executor, LocalExecutor
from corpus_registry.outputs import StagedFolder
from corpus_registry.registry import licences
from corpus_registry.registry.bulk_insert import insert_values, table_of
from corpus_registry.registry.db.models import Document, Release, ReleaseDocument, Source, utcnow
from corpus_registry.registry.decisions import decisions_by_id
from corpus_registry.registry.lookup import documents_with_text
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.store import naming

META_STAGES = ("selected", "licence", "withdrawn", "language")


@dataclass(slots=True)
class BuildResult:
    name: str
    version: str
    out_dir: Path
    registry_state: str
    manifest_sha256: str
    funnel: Funnel
    files: dict[str, str] = field(default_factory=dict)  # relpath -> sha256
    rows: int = 0
    release_id: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


def _metadata_stages(table: pa.Table, spec: BuildSpec, fates: Fates) -> None:
    """Licence, withdrawal and language stages on a page of candidates, in that order: a document
    is dropped by the first. Then every language still selected must name a release folder."""
    sel = spec.select

    def drop_where(mask: pa.Array | np.ndarray, stage: str, reason: str | Callable[[str], str],
                   by: str = "") -> None:
        rows = np.asarray(mask, dtype=bool) & (fates.stage < 0)
        if isinstance(reason, str):
            fates.drop(np.flatnonzero(rows), stage, reason)
            return
        values = table[by].to_numpy(zero_copy_only=False)
        for value in sorted(set(values[rows].tolist())):
            fates.drop(np.flatnonzero(rows & (values == value)), stage, reason(value))

    def outside(column: str, allowed: list[str]) -> np.ndarray:
        return np.asarray(pc.fill_null(pc.invert(pc.is_in(table[column], value_set=pa.array(allowed, pa.string()))),
                                       True))

    drop_where(outside("tier", [t.value for t in sel.license_tiers]), "licence", lambda v: f"tier:{v}", "tier")
    if sel.licenses is not None:
        drop_where(outside("license", sel.licenses), "licence", "not in licence allow-list")
    drop_where(np.asarray(pc.not_equal(table["status"], "active")), "withdrawn", lambda v: v, "status")
    if sel.languages is not None:
        drop_where(outside("language", sel.languages), "language", lambda v: f"language:{v}", "language")
    drop_where(np.asarray(pc.fill_null(pc.less(table["score"], sel.min_language_score), False)),
               "language", "low language score")
    _check_languages(table, fates)


def _keep_ranks(cands: Candidates, rows: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
    """The position of each of ``rows`` by the keep rule shared with near dedup
    (:func:`~.dedup.keep_rank`): most permissive licence tier, then the better text (``quality``,
    measured while signing; rows without one rank as 0), then earliest date, then most words,
    then smallest key (the row number: rows are in key order)."""
    tiers = [t.value for t in licences.Tier]
    tier_rank = np.array([tiers.index(v) if v in tiers else len(tiers) for v in cands.dictionaries["tier"]]
                         + [len(tiers)], dtype=np.int8)[cands.numpy("tier")[rows]]
    worse = np.zeros(len(rows)) if quality is None else -np.nan_to_num(quality, nan=0.0) + 0.0
    date = cands.numpy("date")[rows]  # codes of the sorted dates: -1 undated, last
    undated = date < 0
    order = np.lexsort((rows, -cands.numpy("words")[rows], date, undated, worse, tier_rank))
    ranks = np.empty(len(order), dtype=rows.dtype)  # rows ascend from 0 up: position i <= rows[i]
    ranks[order] = np.arange(len(order), dtype=ranks.dtype)
    return ranks


def _exact_duplicates(parts: np.ndarray, rows: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per position of ``rows``, the position kept for its text if it is an exact duplicate, else -1
    (``parts``: every candidate's 32-byte hash as four uint64, one row each; ``ranks``: the keep
    rule's order of ``rows``, 0 first).

    Sorted by the first 8 bytes alone (8 bytes a row, no copy of the hashes); only the rows that
    share those bytes with another are compared on all 32. Identical texts pass or fail the
    quality filters alike, so this can be decided before filtering.
    """
    out = np.full(len(rows), -1, dtype=rows.dtype)  # positions fit the rows' type (rows ascend from 0 up)
    if len(rows) < 2:
        return out
    head = parts[rows, 0]
    order = np.lexsort((ranks, head))
    head = head[order]
    shared = head[1:] == head[:-1]
    del head
    tied = np.zeros(len(order), dtype=bool)  # sorted positions whose first 8 bytes another row has
    tied[1:] = shared
    tied[:-1] |= shared
    at = order[tied]  # in (first 8 bytes, rank) order: few, as hashes go
    del order, tied, shared
    if not len(at):
        return out
    full = parts[rows[at]]  # (len(at), 4)
    sub = np.lexsort((ranks[at], *full.T[::-1]))  # by all 32 bytes, then best first
    full = full[sub]
    later = np.all(full[1:] == full[:-1], axis=1)  # same text as the row before
    starts = np.concatenate([[True], ~later])
    first = np.maximum.accumulate(np.where(starts, np.arange(len(sub)), 0))  # each group's best
    out[at[sub[~starts]]] = at[sub[first[~starts]]]
    return out


def build_release(
    registry: Registry,
    spec: BuildSpec,
    *,
    out_dir: Path,
    progress: bool = True,
    record: bool = True,
    executor: Executor | None = None,
    memory: int | None = None,
) -> BuildResult:
    """Build ``spec`` from ``registry`` into ``out_dir``; record the release and every document's fate.

    ``executor`` runs the per-document work (default: this process); any executor gives the same files.
    The release is written beside ``out_dir`` and moved into place once recorded, so a failed build
    leaves ``out_dir`` as it was. ``out_dir`` may be new, empty or a release folder a build wrote
    (every file listed in its manifest, unchanged), but not the folder of another pushed release:
    anything else is refused before the work starts. One build of a name and version at a time.
    The spec's tokenizer, if it names one, is found (never downloaded) and loaded first.
    ``memory`` (bytes): a budget for the build and its workers; the candidates' text fields
    (:class:`.candidates.SideColumns`) and near dedup (:mod:`.dedup.spill`) then wait on disk, with
    the same result. None: everything in memory.
    """
    origin, base_dir = spec.origin()
    tokenizer = resolve_tokenizer(spec.tokenizer, base_dir=base_dir, origin=origin) if spec.tokenizer else None
    with registry.exclusive(f"build {spec.name} {spec.version}"), out_folder(registry, spec, out_dir) as staged:
        try:
            return _build(registry, spec, staged, progress=progress, record=record, executor=executor,
                          tokenizer=tokenizer, memory=memory)
        except StoreError as e:  # a text that does not read back as registered: never shipped
            raise naming(e, documents_with_text(registry, str(e.fields.get("sha256", "")))) from e


def _build(registry: Registry, spec: BuildSpec, staged: StagedFolder, *, progress: bool, record: bool,
           executor: Executor | None, tokenizer: TokenizerRef | None, memory: int | None = None) -> BuildResult:
    started = time.perf_counter()
    clock = _Clock()
    executor = executor or LocalExecutor(1)
    if memory is not None:
        return_freed_memory()
    warm_up = getattr(executor, "warm_up", None)
    if warm_up is not None:
        warm_up(tasks.__name__)  # workers import their tasks' module while the registry is read
    filter_names = [f"filter:{f.name}" for f in build_filters(spec.filters)]
    fates = Fates(0, [*META_STAGES, *filter_names, "exact_dedup", "near_dedup", "kept"])
    # within a budget, what waits on disk (the side columns, near dedup's spill) goes to a folder
    # beside the release's, made and deleted here
    with tempfile.TemporaryDirectory(dir=staged.path.parent, prefix=f".{staged.dest.name}.scratch-") as scratch:
        side = SideColumns(Path(scratch) / "candidates.arrow" if memory is not None else None)
        stream = SignStream(spec, registry.store.url, memory=memory,
                            spill=None if memory is None else Path(scratch) / "near-dedup")
        try:
            cands = _filter_and_sign(registry, spec, fates, stream, side, executor, progress=progress)
            between_phases(executor, budget=memory)
            clock.lap("read_filter_sign")  # the registry is read while the workers filter and sign
            stream.finish(cands, fates, executor, _keep_ranks, _exact_duplicates)
            clock.lap("dedup")
            stream.close()  # near dedup's files go before the release is written (closing twice is harmless)
            between_phases(executor, budget=memory)
            result = _decide_and_write(registry, spec, staged, cands, fates, clock, executor=executor,
                                       progress=progress, record=record, tokenizer=tokenizer, memory=memory)
        finally:
            stream.close()
            side.close()
    result.seconds = time.perf_counter() - started
    result.timings = clock.laps
    return result


def _filter_and_sign(registry: Registry, spec: BuildSpec, fates: Fates, stream: SignStream, side: SideColumns,
                     executor: Executor, *, progress: bool) -> Candidates:
    """Read the candidates, deciding each page's metadata stages, while the executor filters and
    signs the survivors of the pages already read."""
    reader = CandidateReader(registry, spec, side=side)
    bar = tqdm(desc="filter+sign", unit="doc", disable=None if progress else True, leave=False)
    for res in executor.map(filter_and_sign, stream.tasks(reader, fates, lambda page, page_fates: _metadata_stages(
            page, spec, page_fates))):
        stream.collect(res)
        bar.update(len(res.dropped) + len(res.passed))
    bar.close()
    cands = reader.result()
    fates.seal()
    if not len(cands):
        raise BuildError(f"{spec.name}: the selection matches no document in the registry",
                         hint="check select.sources/collections/dates, or ingest sources first")
    if not len(fates.alive()):
        raise BuildError(f"{spec.name}: no document passes the licence/language selection "
                         f"({len(cands)} candidates)", hint="widen select.languages or select.license_tiers")
    return cands


def _decide_and_write(registry: Registry, spec: BuildSpec, staged: StagedFolder, cands: Candidates, fates: Fates,
                      clock: _Clock, *, executor: Executor, progress: bool, record: bool,
                      tokenizer: TokenizerRef | None, memory: int | None) -> BuildResult:
    store_url = registry.store.url
    funnel = _funnel(cands, fates)
    kept_rows = fates.alive()
    if not len(kept_rows):
        drops = ", ".join(f"{stage} {n:,}" for stage, n in _drops_by_stage(fates))
        raise BuildError(f"{spec.name}: every one of the {len(cands):,} candidates was dropped ({drops})",
                         hint="loosen the filters or the selection in the spec")
    out_dir = staged.path  # written beside the destination, moved into place by place()
    sources = _sources(registry, cands)
    with registry.session() as session:  # the release and every fate are committed together, or not at all
        recorded: list[_Staged] = []

        def record_fates() -> None:  # while the workers write the shards
            recorded.append(_stage_release(session, spec, cands, fates, staged.dest, executor=executor.name))

        added = {slug: src["retrieved"] for slug, src in sources.items()}
        files, configs = _write_shards(spec, store_url, cands, kept_rows, out_dir, executor, progress=progress,
                                       added=added, tokenizer=tokenizer,
                                       meanwhile=record_fates if record else None,
                                       store_cache=STORE_CACHE if memory is None else memory // 64)
        clock.lap("write_shards")  # includes recording the fates when record is on
        between_phases(executor, budget=memory)
        removed = _write_removed(cands, fates, out_dir)
        result = _write_metadata(registry, spec, cands, kept_rows, funnel, files, configs, out_dir,
                                 sources=sources, removed=removed, tokenizer=tokenizer)
        result.rows = len(kept_rows)
        clock.lap("metadata")
        if record:
            result.release_id = _finish_release(recorded[0], spec, result)
            clock.lap("record")
        result.out_dir = place(registry, spec, staged, manifest_sha256=result.manifest_sha256)  # then commit
    return result


def _drops_by_stage(fates: Fates) -> list[tuple[str, int]]:
    counts = np.bincount(fates.stage[fates.stage >= 0], minlength=len(fates.stages))
    return [(stage, int(n)) for stage, n in zip(fates.stages, counts) if n]


def _insert_fates(conn: Connection, release_id: int, cands: Candidates, fates: Fates) -> None:
    """One row per candidate, a batch at a time (memory holds one batch's objects), as plain values
    through :func:`.bulk_insert.insert_values` (a build records every document, so this is the
    bulk path: no per-row ORM or SQL-expression work)."""
    cols = ("release_id", "document_id", "status", "stage", "reason", "duplicate_of", "similarity")
    ids = cands.numpy("id")
    stage_names = np.array([*fates.stages, None], dtype=object)
    reason_texts = np.array([*fates.reasons, None], dtype=object)
    table = table_of(ReleaseDocument)
    for start in range(0, len(ids), 5000):
        end = start + 5000
        dropped = fates.stage[start:end] >= 0
        status = np.where(dropped, "dropped", "kept").astype(object)
        has_dup = fates.duplicate_of[start:end] >= 0
        duplicate_of = np.where(has_dup, ids[np.where(has_dup, fates.duplicate_of[start:end], 0)], 0).astype(object)
        duplicate_of[~has_dup] = None
        sims = fates.similarity[start:end]
        similarity = sims.astype(object)
        similarity[np.isnan(sims)] = None
        insert_values(conn, table, cols, list(zip(
            [release_id] * len(ids[start:end]), ids[start:end].tolist(), status.tolist(),
            stage_names[fates.stage[start:end]].tolist(), reason_texts[fates.reason[start:end]].tolist(),
            duplicate_of.tolist(), similarity.tolist())))


class _Clock:
    """Seconds spent per build phase, for the ``--json`` output and benchmarks."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _funnel(cands: Candidates, fates: Fates) -> Funnel:
    """Every candidate passes the stages before the one that dropped it (or all of them).

    Documents are first grouped by (dropping stage, reason, language): the funnel is then filled
    once per group and stage, not once per document and stage."""
    languages: list[str | None] = [*cands.dictionaries["language"], None]
    codes = cands.numpy("language").astype(np.int64)
    codes[codes < 0] = len(languages) - 1
    group = ((fates.stage.astype(np.int64) + 1) * (len(fates.reasons) + 1) + fates.reason + 1) \
        * len(languages) + codes
    keys, inverse = np.unique(group, return_inverse=True)
    docs = np.bincount(inverse, minlength=len(keys))
    words = np.bincount(inverse, weights=cands.numpy("words"), minlength=len(keys)).astype(np.int64)
    stage_names = fates.stages
    funnel = Funnel()
    for name in stage_names:
        funnel.stage(name)
    for key, n, w in zip(keys.tolist(), docs.tolist(), words.tolist()):
        rest, lang = divmod(key, len(languages))
        stage, reason = divmod(rest, len(fates.reasons) + 1)
        last = stage - 1 if stage else len(stage_names) - 1
        for s, name in enumerate(stage_names[: last + 1]):
            dropped = bool(stage) and s == last
            funnel.record(name, languages[lang], w, kept=not dropped,  # type: ignore[arg-type]
                          reason=fates.reasons[reason - 1] if dropped else None, docs=n)
    return funnel


def _check_languages(page: pa.Table, fates: Fates) -> None:
    """Every language still selected will name a folder of the release: refuse, before the long
    work, one that cannot (a registry filled before language codes were validated)."""
    alive = page.filter(pa.array(fates.stage < 0))
    for language in pc.unique(alive["language"]).to_pylist():
        if not safe_config(language):
            these = alive.filter(pc.fill_null(pc.equal(alive["language"], language), True)
                                 if language is not None else pc.is_null(alive["language"]))
            keys = [f"{s}/{i}" for s, i in zip(these["source"].to_pylist(), these["identifier"].to_pylist())]
            raise BuildError(f"document {keys[0]} has language {language!r}, which is not a language code"
                             + (f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""),
                             hint="fix its language in sources.yaml (documents: ID: language:), then run "
                                  "`sources sync` and `ingest` again")


def _write_shards(spec: BuildSpec, store_url: str, cands: Candidates, kept_rows: np.ndarray, out_dir: Path,
                  executor: Executor, *,
                  progress: bool, added: dict[str, str | None], tokenizer: TokenizerRef | None = None,
                  meanwhile: Callable[[], None] | None = None, store_cache: int = STORE_CACHE
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Plan every shard from metadata alone, then write them (in parallel where the executor can),
    running ``meanwhile`` in this process (on a thread) while they are.

    Rows go to their language's config (share-alike ones to their own), sorted by language and key;
    with the dolma format, each shard's rows are also written in dolma's layout (``added``: the
    date each source was retrieved); with a ``tokenizer``, each row's tokens are counted there."""
    dolma = "dolma" in spec.output.formats
    counting = (tokenizer.path, tokenizer.sha256) if tokenizer is not None else None
    languages = cands.dictionaries["language"]
    tiers = cands.dictionaries["tier"]
    language = cands.numpy("language")[kept_rows]
    share_alike = np.isin(cands.numpy("tier")[kept_rows],
                          [i for i, t in enumerate(tiers) if t == licences.Tier.SHARE_ALIKE.value])
    names = sorted({SHARE_ALIKE_CONFIG, *languages})
    config_of_language = np.array([names.index(v) for v in languages] + [-1], dtype=np.int16)
    config = np.where(share_alike, np.int16(names.index(SHARE_ALIKE_CONFIG)), config_of_language[language])
    # by config, language, then key (the row); positions in the rows' own type (4 bytes below 2³¹)
    order = np.lexsort((kept_rows, language, config)).astype(kept_rows.dtype, copy=False)
    config = config[order]
    sizes = cands.numpy("bytes")[kept_rows][order]
    bounds = (np.flatnonzero(config[1:] != config[:-1]) + 1).tolist()
    spans = list(zip([0, *bounds], [*bounds, len(config)]))
    by_config = {names[int(config[s])]: (s, e) for s, e in spans}
    open_types = pa.array([OPEN_TYPES.get(t) for t in tiers] + [None], pa.string())

    def shard_rows(at: np.ndarray) -> pa.Table:
        side = cands.side.take(at)
        tier = cands.numpy("tier")[at]
        return pa.table({
            "identifier": side["identifier"], "collection": side["collection"],
            "open_type": open_types.take(pa.array(np.where(tier < 0, len(tiers), tier))),
            "license": cands.strings("license", at), "date": cands.strings("date", at), "title": side["title"],
            "creator": side["creator"], "language": cands.strings("language", at),
            "word_count": pa.array(cands.numpy("words")[at], pa.int64()), "source": side["source"],
            "url": side["url"], "sha256": cands.sha256_hex(at), "_shard": cands.strings("shard", at),
        })

    def tasks() -> Iterator[ShardTask]:  # each task's rows are read when it is handed out
        for name, (first, last) in by_config.items():
            plan = plan_shards(_ints(sizes[first:last]), max_rows=spec.output.max_rows_per_shard,
                               max_bytes=spec.output.max_bytes_per_shard)
            start = first
            for index, n in enumerate(plan):
                copy = str(out_dir / dolma_path(name, index, len(plan))) if dolma else None
                yield ShardTask(store_url, str(out_dir / shard_path(name, index, len(plan))),
                                shard_rows(kept_rows[order[start:start + n]]),
                                dolma=copy, added=added, tokenizer=counting, store_cache=store_cache)
                start += n

    files: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=len(kept_rows), desc="write", unit="doc", disable=None if progress else True, leave=False)
    written = executor.map(write_shard_task, tasks())  # local workers: every task submitted already
    # ``meanwhile`` runs on a thread beside the loop that hands out tasks: run here, it kept the workers
    # waiting for their next shard while it ran (3M fates: ~17 s). Its session is used by one thread at a
    # time: the loop never touches it, and the thread is waited for before anything else does.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meanwhile") as beside:
        recording = beside.submit(meanwhile) if meanwhile is not None else None
        for path, info in written:
            files[Path(path).relative_to(out_dir).as_posix()] = info
            bar.update(info["rows"])
            if recording is not None and recording.done() and recording.exception() is not None:
                break  # its error is the build's: no need to write the other shards
    bar.close()
    if recording is not None:
        recording.result()
    configs: dict[str, list[str]] = {}
    language_configs = sorted(c for c in by_config if c != SHARE_ALIKE_CONFIG)
    if language_configs:
        configs["default"] = [f"data/{c}/*.parquet" for c in language_configs]
    for c in language_configs:
        configs[c] = [f"data/{c}/*.parquet"]
    if SHARE_ALIKE_CONFIG in by_config:
        configs[SHARE_ALIKE_CONFIG] = [f"data/{SHARE_ALIKE_CONFIG}/*.parquet"]
    return files, configs


def _ints(values: np.ndarray, chunk: int = 1 << 16) -> Iterator[int]:
    """``values`` as Python ints, a chunk at a time (2M rows as one list: ~80 MB)."""
    for start in range(0, len(values), chunk):
        yield from values[start:start + chunk].tolist()


def _sources(registry: Registry, cands: Candidates) -> dict[str, dict[str, Any]]:
    """What the manifest, the card and the dolma copy say of each candidate source: its licence in
    force (the registry's current decisions); ``registered``: the day its latest current document
    was registered (when the data was collected, if the catalogue gives no ``retrieved`` date)."""
    slugs = sorted({cands.standings.slugs[sid] for sid in np.unique(cands.numpy("source_id")).tolist()}
                   if cands.standings is not None else set())
    in_force = ({cands.standings.slugs[sid]: st.license for sid, st in cands.standings.sources.items()}
                if cands.standings is not None else {})
    with registry.session() as s:
        rows = s.scalars(select(Source).where(Source.slug.in_(slugs))).all()
        registered = dict(s.execute(
            select(Source.slug, func.max(Document.created_at)).join(Document, Document.source_id == Source.id)
            .where(Source.slug.in_(slugs), Document.is_current.is_(True)).group_by(Source.slug)).all())
        return {src.slug: {"slug": src.slug, "name": src.name, "collection": src.collection,
                           "license": in_force.get(src.slug, src.license), "attribution": src.attribution,
                           "origin_url": src.origin_url,
                           "retrieved": src.retrieved,
                           "registered": registered[src.slug].date().isoformat() if registered.get(src.slug) else None}
                for src in rows}


def _write_removed(cands: Candidates, fates: Fates, out_dir: Path) -> dict[str, Any]:
    """removed.parquet: every candidate not kept, in registry order, with its stage and reason and,
    for a duplicate, the kept document it duplicates (``source/identifier``) and how closely."""
    stage_names = np.array([*fates.stages, None], dtype=object)
    reason_texts = np.array([*fates.reasons, None], dtype=object)

    def groups() -> Iterator[pa.Table]:  # built a page at a time, written a row group at a time
        everything = np.flatnonzero(fates.stage >= 0)
        for start in range(0, len(everything), PAGE):
            dropped = everything[start:start + PAGE]
            has_dup = fates.duplicate_of[dropped] >= 0
            keys = np.full(len(dropped), None, dtype=object)
            keys[has_dup] = cands.keys(fates.duplicate_of[dropped][has_dup])
            side = cands.side.take(dropped, ("identifier", "source"))
            similarity = fates.similarity[dropped]
            yield pa.table({
                "identifier": side["identifier"], "source": side["source"],
                "sha256": cands.sha256_hex(dropped), "language": cands.strings("language", dropped),
                "word_count": pa.array(cands.numpy("words")[dropped], pa.int64()),
                "stage": pa.array(stage_names[fates.stage[dropped]].tolist(), pa.string()),
                "reason": pa.array(reason_texts[fates.reason[dropped]].tolist(), pa.string()),
                "duplicate_of": pa.array(keys.tolist(), pa.string()),
                "similarity": pa.array(similarity, pa.float64(), mask=np.isnan(similarity)),
            }, schema=REMOVED_SCHEMA)  # PAGE is a multiple of ROW_GROUP: same row groups as one at a time

    info = write_shard(out_dir / REMOVED, groups(), schema=REMOVED_SCHEMA)
    by_stage = dict(_drops_by_stage(fates))
    return {"sha256": info["sha256"], "rows": info["rows"], "by_stage": by_stage}


def _counts(groups: list[Any], codes: np.ndarray, words: np.ndarray) -> list[tuple[Any, int, int]]:
    """(group, documents, words) per distinct ``codes`` value (an index into ``groups``), sorted."""
    keys, inverse = np.unique(codes, return_inverse=True)
    docs = np.bincount(inverse, minlength=len(keys))
    total = np.bincount(inverse, weights=words, minlength=len(keys))
    return sorted((groups[k], int(n), int(w)) for k, n, w in zip(keys.tolist(), docs.tolist(), total.tolist()))


def _write_metadata(registry: Registry, spec: BuildSpec, cands: Candidates, kept_rows: np.ndarray, funnel: Funnel,
                    files: dict[str, dict[str, Any]], configs: dict[str, list[str]], out_dir: Path, *,
                    sources: dict[str, dict[str, Any]], removed: dict[str, Any],
                    tokenizer: TokenizerRef | None = None) -> BuildResult:
    """Everything beside the shards, each derived from the manifest: croissant.json, the card,
    ATTRIBUTION.md, the funnel chart; then the manifest itself, listing every file's sha256.

    With a tokenizer, the shards' token counts are summed per language and per source (the
    manifest's ``counts.kept_tokens``, ``counts.tokens_by_language``, each source's ``tokens`` and
    the funnel's last stage); without one these are null."""
    candidates, state = len(cands), cands.state
    words = cands.numpy("words")[kept_rows]
    licenses, tiers = cands.dictionaries["license"], cands.dictionaries["tier"]
    license_code = cands.numpy("license")[kept_rows].astype(np.int64)
    tier_code = cands.numpy("tier")[kept_rows].astype(np.int64)
    pairs = [(lic, tier) for lic in [*licenses, None] for tier in [*tiers, None]]
    pair_code = np.where(license_code < 0, len(licenses), license_code) * (len(tiers) + 1) \
        + np.where(tier_code < 0, len(tiers), tier_code)
    slugs = cands.standings.slugs if cands.standings is not None else {}
    source_ids = cands.numpy("source_id")[kept_rows]
    by_language: dict[str, int] | None = None
    by_source: dict[str, int] | None = None
    if tokenizer is not None:
        by_language, by_source = {}, {}
        for info in files.values():
            for lang, src, n in info.get("tokens", []):
                by_language[lang] = by_language.get(lang, 0) + n
                by_source[src] = by_source.get(src, 0) + n
        funnel.tokens = dict(sorted(by_language.items()))
    license_mix = [{"license": lic, "tier": tier, "documents": n, "words": w}
                   for (lic, tier), n, w in _counts(pairs, pair_code, words)]
    language_codes = np.unique(cands.numpy("language")[kept_rows])
    languages = sorted(cands.dictionaries["language"][c] for c in language_codes.tolist() if c >= 0)
    by_slug = _counts([slugs.get(i) for i in range(max(slugs, default=0) + 1)], source_ids, words)
    kept_sources = [{**{k: v for k, v in sources[slug].items()}, "documents": n, "words": w,
                     "tokens": None if by_source is None else by_source.get(slug, 0)}
                    for slug, n, w in sorted(by_slug)]
    config_rows = {name: sum(files[p]["rows"] for p in files if any(
        Path(p).match(g) for g in globs)) for name, globs in configs.items()}
    side_files = {files[p]["dolma"]["path"]: files[p]["dolma"]["sha256"] for p in files if "dolma" in files[p]}
    side_files = {Path(p).relative_to(out_dir).as_posix(): sha for p, sha in side_files.items()}
    side_files[REMOVED] = removed["sha256"]
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "name": spec.name,
        "version": spec.version,
        "spec": spec.canonical(),
        "registry_state": state,
        "counts": {"candidates": candidates, "kept": len(kept_rows),
                   "kept_words": int(words.sum()),
                   "kept_bytes": int(cands.numpy("bytes")[kept_rows].sum()),
                   "kept_tokens": None if by_language is None else sum(by_language.values()),
                   "tokens_by_language": None if by_language is None else dict(sorted(by_language.items())),
                   "funnel": funnel.as_dict()["stages"]},
        "tokenizer": tokenizer.manifest() if tokenizer is not None else None,
        "license_mix": license_mix,
        "languages": languages,
        "sources": kept_sources,
        "configs": {n: {"data_files": g, "rows": config_rows[n]} for n, g in configs.items()},
        "shards": {p: files[p]["sha256"] for p in sorted(files)},
        "shard_rows": {p: files[p]["rows"] for p in sorted(files)},
        "removed": {"path": REMOVED, "rows": removed["rows"], "by_stage": removed["by_stage"]},
        "files": dict(sorted(side_files.items())),
        # the licence decisions in force for the kept documents: their sources' and their own
        "decisions": [d.as_dict() for d in decisions_by_id(registry, cands.decision_ids(kept_rows))],
    }
    credited = [i for i, lic in enumerate(licenses) if licences.parse(lic).requires_attribution]
    owed_rows = kept_rows[np.isin(license_code, credited)]  # in key order, as rows are
    owed = cands.side.take(owed_rows, ("source", "identifier", "title", "url")).append_column(
        "license", cands.strings("license", owed_rows))
    attribution = [
        {"source": d["source"], "source_name": sources[d["source"]]["name"],
         "attribution": sources[d["source"]]["attribution"], "identifier": d["identifier"], "title": d["title"],
         "license": d["license"], "url": d["url"]}
        for d in owed.select(["source", "identifier", "title", "license", "url"]).to_pylist()
    ]
    manifest["attribution_required"] = len(attribution)
    write_croissant(out_dir, manifest)
    (out_dir / ATTRIBUTION).write_text(render_attribution(attribution), encoding="utf-8")
    funnel.chart(out_dir / FUNNEL_PNG, title=f"{spec.name} {spec.version}: build funnel")
    (out_dir / CARD).write_text(render_card(manifest, funnel_table=funnel.table()), encoding="utf-8")
    # every file the build wrote but the manifest itself: what a later build may replace
    manifest["files"] = file_hashes(out_dir, known={p: files[p]["sha256"] for p in files} | side_files)
    manifest_sha = write_manifest(out_dir, manifest)
    all_files = {**manifest["files"], MANIFEST: manifest_sha}
    return BuildResult(name=spec.name, version=spec.version, out_dir=out_dir, registry_state=state,
                       manifest_sha256=manifest_sha, funnel=funnel, files=dict(sorted(all_files.items())))


@dataclass(slots=True)
class _Staged:
    """A release row and its fates, written but not committed, and what it replaced."""

    release: Release
    previous_manifest: str | None
    pushed: str | None  # where it was pushed (repo@tag), if it was


def _stage_release(session: Session, spec: BuildSpec, cands: Candidates, fates: Fates, out_dir: Path, *,
                   executor: str) -> _Staged:
    """Write the release row (its manifest fields are filled by :func:`_finish_release`) and the fate
    of every candidate, replacing those of an earlier build of the same name and version."""
    try:
        rel = session.scalar(select(Release).where(Release.name == spec.name, Release.version == spec.version))
        if rel is not None:
            staged = _Staged(rel, rel.manifest_sha256, pushed_to(session, rel))
            session.execute(delete(ReleaseDocument).where(ReleaseDocument.release_id == rel.id))
        else:
            rel = Release(name=spec.name, version=spec.version, spec=spec.canonical(), registry_state=cands.state)
            session.add(rel)
            staged = _Staged(rel, None, None)
        rel.executor, rel.out_dir = executor, str(out_dir)
        session.flush()
        _insert_fates(session.connection(), rel.id, cands, fates)
    except IntegrityError as e:  # another process recorded this version first (the lock covers one registry URL)
        raise BuildError(f"release {spec.name} {spec.version} was recorded by another build while this one ran; "
                         "nothing was written", hint="run the build again to rebuild it, or bump `version`") from e
    except OperationalError as e:
        raise BuildError(f"the registry stayed busy with another writer; release {spec.name} {spec.version} was "
                         f"not recorded and nothing was written ({str(e.orig).splitlines()[0]})",
                         hint="run the build again once the other ingest or build is done") from e
    return staged


def _finish_release(staged: _Staged, spec: BuildSpec, result: BuildResult) -> int:
    """Fill the release row from the manifest; refuse to change a pushed version (rolls back)."""
    if staged.pushed and staged.previous_manifest != result.manifest_sha256:
        raise BuildError(f"release {spec.name} {spec.version} was already built differently and pushed to "
                         f"{staged.pushed}; --out is left as it was",
                         hint="a pushed version is immutable: bump `version` in the spec")
    manifest = json.loads((result.out_dir / MANIFEST).read_text(encoding="utf-8"))
    rel = staged.release
    rel.spec, rel.registry_state, rel.counts, rel.shards = (
        spec.canonical(), result.registry_state, manifest["counts"], manifest["shards"])
    rel.manifest_sha256, rel.created_at = result.manifest_sha256, utcnow()
    return rel.id
