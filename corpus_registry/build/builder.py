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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from tqdm import tqdm

from corpus_registry.build.candidates import Candidates, read_candidates
from corpus_registry.build.card import render_attribution, render_card
from corpus_registry.build.croissant import write_croissant
from corpus_registry.build.dedup import MinHasher
from corpus_registry.build.dedup.distributed import grouped_near_dedup
from corpus_registry.build.dedup.near import NearDedup
from corpus_registry.build.dedup.quality import text_qualities
from corpus_registry.build.dedup.spill import SpilledNearDedup
from corpus_registry.build.dolma import DolmaWriter
from corpus_registry.build.filters import BuildDoc, FilterConfig, build_filters
from corpus_registry.build.funnel import Funnel
from corpus_registry.build.out_folder import out_folder, place, pushed_to
from corpus_registry.build.release import (
    ATTRIBUTION,
    CARD,
    COLUMNS,
    FORMAT,
    FUNNEL_PNG,
    MANIFEST,
    OPEN_TYPES,
    REMOVED,
    REMOVED_SCHEMA,
    ROW_GROUP,
    SHARE_ALIKE_CONFIG,
    dolma_path,
    file_hashes,
    plan_shards,
    safe_config,
    shard_path,
    write_manifest,
    write_shard,
)
from corpus_registry.build.spec import BuildSpec
from corpus_registry.build.tokens import TokenizerRef, count_tokens, resolve_tokenizer, worker_tokenizer
from corpus_registry.errors import BuildError, StoreError
from corpus_registry.executors import Executor, LocalExecutor
from corpus_registry.outputs import StagedFolder
from corpus_registry.registry import licences
from corpus_registry.registry.db.models import Document, Release, ReleaseDocument, Source, utcnow
from corpus_registry.registry.decisions import decisions_by_id
from corpus_registry.registry.lookup import documents_with_text
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.store import DocumentStore, naming

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


class _Fates:
    """Every candidate's fate by row number: the stage that dropped it (-1: kept so far), why, and
    the row it duplicates (-1: none) with their similarity."""

    def __init__(self, size: int, stages: list[str]) -> None:
        self.stages = stages
        self.reasons: list[str] = []
        self._codes: dict[str, int] = {}
        self.stage = np.full(size, -1, dtype=np.int16)
        self.reason = np.full(size, -1, dtype=np.int32)
        self.duplicate_of = np.full(size, -1, dtype=np.int64)
        self.similarity = np.full(size, np.nan)

    def drop(self, rows: np.ndarray | list[int], stage: str, reason: str) -> None:
        code = self._codes.setdefault(reason, len(self._codes))
        if code == len(self.reasons):
            self.reasons.append(reason)
        self.stage[rows] = self.stages.index(stage)
        self.reason[rows] = code

    def alive(self) -> np.ndarray:
        return np.flatnonzero(self.stage < 0)

    def stage_names(self) -> np.ndarray:
        """Each row's dropping stage as an object array (None where kept)."""
        return np.array([*self.stages, None], dtype=object)[self.stage]

    def reason_texts(self) -> np.ndarray:
        """Each row's drop reason as an object array (None where kept)."""
        return np.array([*self.reasons, None], dtype=object)[self.reason]


def _metadata_stages(c: Candidates, spec: BuildSpec, fates: _Fates) -> None:
    """Licence, withdrawal and language stages, in that order: a document is dropped by the first."""
    sel = spec.select
    table = c.table

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
        return np.asarray(pc.invert(pc.is_in(table[column], value_set=pa.array(allowed, pa.string()))))

    drop_where(outside("tier", [t.value for t in sel.license_tiers]), "licence", lambda v: f"tier:{v}", "tier")
    if sel.licenses is not None:
        drop_where(outside("license", sel.licenses), "licence", "not in licence allow-list")
    drop_where(np.asarray(pc.not_equal(table["status"], "active")), "withdrawn", lambda v: v, "status")
    if sel.languages is not None:
        drop_where(outside("language", sel.languages), "language", lambda v: f"language:{v}", "language")
    drop_where(c.numpy("score") < sel.min_language_score, "language", "low language score")


def _keep_ranks(table: pa.Table, quality: np.ndarray | None = None) -> np.ndarray:
    """Each row's position by the keep rule shared with near dedup (:func:`~.dedup.keep_rank`):
    most permissive licence tier, then the better text (``quality``, measured while signing; rows
    without one rank as 0), then earliest date, then most words, then smallest key. Arrow orders
    strings by their UTF-8 bytes, which is Python's order of code points."""
    tiers = pa.array([t.value for t in licences.Tier], pa.string())
    tier_rank = pc.fill_null(pc.index_in(table["tier"], value_set=tiers), len(tiers))
    worse = np.zeros(table.num_rows) if quality is None else -np.nan_to_num(quality, nan=0.0) + 0.0
    order = pc.sort_indices(pa.table({
        "tier": tier_rank, "worse": pa.array(worse, pa.float64()), "undated": pc.is_null(table["date"]),
        "date": pc.fill_null(table["date"], ""), "words": pc.negate(table["words"]), "key": table["key"],
    }), sort_keys=[("tier", "ascending"), ("worse", "ascending"), ("undated", "ascending"),
                   ("date", "ascending"), ("words", "ascending"), ("key", "ascending")]).to_numpy()
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def _exact_duplicates(sha256: pa.Array, ranks: np.ndarray) -> np.ndarray:
    """Per row, the row kept for its text if it is an exact duplicate, else -1.

    Identical texts pass or fail the quality filters alike, so this can be decided before filtering.
    """
    order = pc.sort_indices(pa.table({"sha256": sha256, "rank": ranks}),
                            sort_keys=[("sha256", "ascending"), ("rank", "ascending")]).to_numpy()
    out = np.full(len(order), -1, dtype=np.int64)
    if len(order) < 2:
        return out
    ordered = sha256.take(order)
    later = np.asarray(pc.equal(ordered[1:], ordered[:-1]))  # same text as the row before
    starts = np.concatenate([[True], ~later])
    first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))  # each group's best
    out[order[~starts]] = order[first[~starts]]
    return out


@dataclass(frozen=True, slots=True)
class SignTask:
    """One chunk of per-document work (filters + MinHash signature), picklable for any executor.

    ``items`` has the columns index, sha256, shard, words, language, date and sign."""

    store_url: str
    filters: dict[str, Any]
    minhash: tuple[int, int, int] | None  # num_perm, ngram, seed; None when near dedup is off
    items: pa.Table


@dataclass(slots=True)
class SignResult:
    """Per task: the documents a filter dropped, and the signatures of those to deduplicate."""

    dropped: list[tuple[int, str, str]]  # index, "filter:NAME", reason
    passed: list[int]  # indexes that passed every filter, in task order
    signed: list[int]  # indexes with a row in ``signatures``
    signatures: Any  # numpy array (len(signed), num_perm) or None
    quality: list[float] = field(default_factory=list)  # the keep rule's text score of each signed index


def filter_and_sign(task: SignTask) -> SignResult:
    """Run the quality filters on each item, then MinHash-sign the survivors in one batch."""
    store = _store(task.store_url)
    filters = _filters(json.dumps(task.filters, sort_keys=True))
    result = SignResult(dropped=[], passed=[], signed=[], signatures=None)
    texts: list[str] = []
    languages: list[str | None] = []
    items = task.items
    columns = [items[name].to_pylist() for name in ("index", "sha256", "shard", "words", "language", "date", "sign")]
    if not filters and (task.minhash is None or not any(columns[6])):  # no text needed: read once, when written
        result.passed = columns[0]
        return result
    by_sha = dict(store.get_many(zip(columns[1], columns[2])))  # each shard read once, each text checked
    for index, sha, _shard, words, lang, date, sign in zip(*columns):
        text = by_sha[sha]
        bd = BuildDoc(key=str(index), text=text, sha256=sha, word_count=words, language=lang, date=date)
        for f in filters:
            verdict = f.filter(bd)
            ok, reason = verdict if isinstance(verdict, tuple) else (verdict, None)
            if not ok:
                result.dropped.append((index, f"filter:{f.name}", reason or f.name))
                break
        else:
            result.passed.append(index)
            if sign and task.minhash is not None:
                result.signed.append(index)
                languages.append(lang)
                texts.append(text)
    if texts:
        result.quality = text_qualities(texts, languages)
        result.signatures = _hasher(task.minhash).signatures(texts)  # type: ignore[arg-type]
    return result


@lru_cache(maxsize=2)
def _store(url: str) -> DocumentStore:
    return DocumentStore(url)


@lru_cache(maxsize=2)
def _filters(config_json: str) -> list[Any]:
    return build_filters(FilterConfig.model_validate(json.loads(config_json)))


@lru_cache(maxsize=2)
def _hasher(params: tuple[int, int, int]) -> MinHasher:
    num_perm, ngram, seed = params
    return MinHasher(num_perm=num_perm, ngram=ngram, seed=seed)


@dataclass(frozen=True, slots=True)
class ShardTask:
    """One output shard: its rows without text (texts are read from the store where it runs).

    ``rows`` has the release columns but ``text`` and ``token_count``, plus ``_shard`` (where the
    store keeps each text). ``dolma``: where to write the same rows in dolma's layout too (``added``:
    each source's date). ``tokenizer``: (path, sha256) of the tokenizer that counts tokens, if any."""

    store_url: str
    path: str
    rows: pa.Table
    dolma: str | None = None
    added: dict[str, str | None] = field(default_factory=dict)
    tokenizer: tuple[str, str] | None = None


def write_shard_task(task: ShardTask) -> tuple[str, dict[str, Any]]:
    """Write one output shard (and its dolma copy), fetching texts a row group at a time (each
    store shard opened once per group), so a worker's memory does not depend on the shard's size.

    With a tokenizer, each row's ``token_count`` is counted here (null without one); the shard's
    info then has ``tokens``: [language, source, tokens] per pair present in it."""
    store = _store(task.store_url)
    dolma = DolmaWriter(Path(task.dolma), added=task.added) if task.dolma else None
    tokenizer = worker_tokenizer(*task.tokenizer) if task.tokenizer else None
    tokens: dict[tuple[str, str], int] = {}

    def groups() -> Iterator[pa.Table]:
        for start in range(0, task.rows.num_rows, ROW_GROUP):
            chunk = task.rows.slice(start, ROW_GROUP)
            text = store.get_array(list(zip(chunk["sha256"].to_pylist(), chunk["_shard"].to_pylist())))
            if tokenizer is not None:
                counts = count_tokens(tokenizer, text.to_pylist())
                token_count = pa.array(counts, pa.int64())
                for key, n in zip(zip(chunk["language"].to_pylist(), chunk["source"].to_pylist()), counts):
                    tokens[key] = tokens.get(key, 0) + n
            else:
                token_count = pa.nulls(chunk.num_rows, pa.int64())
            table = (chunk.drop_columns(["_shard"]).append_column("token_count", token_count)
                     .append_column("text", text).select(COLUMNS))
            if dolma is not None:
                dolma.write(table)
            yield table

    try:
        info = write_shard(Path(task.path), groups())
    finally:
        copy = dolma.close() if dolma is not None else None
    if copy is not None:
        info["dolma"] = {"path": task.dolma, **copy}
    if tokenizer is not None:
        info["tokens"] = [[lang, src, n] for (lang, src), n in sorted(tokens.items())]
    return task.path, info


def _sign_tasks(spec: BuildSpec, store_url: str, survivors: pa.Table, sign: np.ndarray,
                max_docs: int = 2000, max_bytes: int = 64 << 20) -> Iterator[SignTask]:
    """Chunks of survivors in store order (each shard read by as few tasks as possible)."""
    minhash = (spec.dedup.num_perm, spec.dedup.ngram, spec.dedup.seed) if spec.dedup.near else None
    filters = spec.filters.model_dump(mode="json")
    order = pc.sort_indices(survivors, sort_keys=[("shard", "ascending"), ("sha256", "ascending"),
                                                  ("key", "ascending")]).to_numpy()
    columns = survivors.select(["sha256", "shard", "words", "language", "date"])
    # a task ends at its max_docs-th document or at the one that brings it to max_bytes
    sizes = np.cumsum(survivors["bytes"].to_numpy()[order])
    start = 0
    while start < len(order):
        before = sizes[start - 1] if start else 0
        end = min(start + max_docs, int(np.searchsorted(sizes, before + max_bytes)) + 1, len(order))
        these = order[start:end]  # taken, not sliced: a pickled slice would carry the whole columns
        items = columns.take(these).add_column(0, "index", pa.array(these)).append_column("sign", pa.array(sign[these]))
        yield SignTask(store_url, filters, minhash, items)
        start = end


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
    ``memory`` (bytes): a budget for the build's own process; near dedup then works out of core
    (:mod:`.dedup.spill`), with the same result. None: everything in memory.
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
    warm_up = getattr(executor, "warm_up", None)
    if warm_up is not None:
        warm_up(__name__)  # workers import this module while the registry is read
    cands = read_candidates(registry, spec)
    if not len(cands):
        raise BuildError(f"{spec.name}: the selection matches no document in the registry",
                         hint="check select.sources/collections/dates, or ingest sources first")
    clock.lap("select")

    filter_names = [f"filter:{f.name}" for f in build_filters(spec.filters)]
    fates = _Fates(len(cands), [*META_STAGES, *filter_names, "exact_dedup", "near_dedup", "kept"])
    _metadata_stages(cands, spec, fates)
    if not len(fates.alive()):
        raise BuildError(f"{spec.name}: no document passes the licence/language selection "
                         f"({len(cands)} candidates)", hint="widen select.languages or select.license_tiers")
    _check_languages(cands, fates)
    store_url = registry.store.url
    spill = None if memory is None else staged.path / ".near-dedup-spill"  # made, then deleted, by this build
    _text_stages(cands, spec, fates, store_url, executor, clock, progress=progress, spill=spill,
                 memory=memory)
    pa.default_memory_pool().release_unused()

    funnel = _funnel(cands, fates)
    kept_rows = fates.alive()
    kept = cands.table.take(kept_rows)
    if not kept.num_rows:
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
        files, configs = _write_shards(spec, store_url, kept, out_dir, executor, progress=progress, added=added,
                                       tokenizer=tokenizer, meanwhile=record_fates if record else None)
        clock.lap("write_shards")  # includes recording the fates when record is on
        removed = _write_removed(cands, fates, out_dir)
        result = _write_metadata(registry, spec, cands, kept_rows, funnel, files, configs, out_dir,
                                 sources=sources, removed=removed, tokenizer=tokenizer, kept=kept)
        result.rows = kept.num_rows
        clock.lap("metadata")
        if record:
            result.release_id = _finish_release(recorded[0], spec, result)
            clock.lap("record")
        result.out_dir = place(registry, spec, staged, manifest_sha256=result.manifest_sha256)  # then commit
    result.seconds = time.perf_counter() - started
    result.timings = clock.laps
    return result


def _text_stages(cands: Candidates, spec: BuildSpec, fates: _Fates, store_url: str, executor: Executor,
                 clock: _Clock, *, progress: bool, spill: Path | None = None, memory: int | None = None) -> None:
    """Quality filters, exact and near dedup on the documents the metadata stages kept.

    Everything held here (the survivors' columns, signatures, LSH buckets) is freed on return,
    before the shards are written. With ``spill`` (a folder to make), signatures and LSH buckets go
    to files there instead of memory, paired within ``memory`` bytes; the folder is deleted here."""
    rows = fates.alive()  # survivor number -> candidate row
    survivors = cands.table.select(["key", "sha256", "shard", "words", "bytes", "language", "date", "tier"]).take(rows)
    ranks = _keep_ranks(survivors)
    exact_of = _exact_duplicates(survivors["sha256"], ranks) if spec.dedup.exact else np.full(len(rows), -1)
    near = spec.dedup.near_dedup() if spec.dedup.near and spill is None else None
    if near is not None:
        near.reserve(int(np.count_nonzero(exact_of < 0)))
    spilled = (SpilledNearDedup(folder=spill, memory=(memory or 0) // 4, threshold=spec.dedup.threshold,
                                num_perm=spec.dedup.num_perm, seed=spec.dedup.seed)
               if spec.dedup.near and spill is not None else None)
    try:
        _filter_sign_dedup(spec, fates, store_url, executor, clock, rows, survivors, ranks, exact_of, near, spilled,
                           progress=progress)
    finally:
        if spilled is not None:
            spilled.close()


def _filter_sign_dedup(spec: BuildSpec, fates: _Fates, store_url: str, executor: Executor, clock: _Clock,
                       rows: np.ndarray, survivors: pa.Table, ranks: np.ndarray, exact_of: np.ndarray,
                       near: NearDedup | None, spilled: SpilledNearDedup | None, *, progress: bool) -> None:
    signed: list[np.ndarray] = []  # survivor numbers in the order near dedup numbers them
    quality = np.full(len(rows), np.nan)  # the keep rule's text score, measured while signing
    bar = tqdm(total=len(rows), desc="filter+sign", unit="doc", disable=None if progress else True,
               leave=False)
    # within a budget, a task's texts take at most 1/64 of it in a worker (same results: tasks keep store order)
    max_bytes = 64 << 20 if spilled is None else max(1 << 20, min(64 << 20, spilled.memory * 4 // 64))
    for res in executor.map(filter_and_sign, _sign_tasks(spec, store_url, survivors, exact_of < 0,
                                                         max_bytes=max_bytes)):
        by_reason: dict[tuple[str, str], list[int]] = {}
        for i, stage, reason in res.dropped:
            by_reason.setdefault((stage, reason), []).append(i)
        for (stage, reason), where in by_reason.items():
            fates.drop(rows[where], stage, reason)
        passed = np.asarray(res.passed, dtype=np.int64)
        exact = passed[exact_of[passed] >= 0]
        if len(exact):
            fates.drop(rows[exact], "exact_dedup", "exact duplicate")
            fates.duplicate_of[rows[exact]] = rows[exact_of[exact]]
            fates.similarity[rows[exact]] = 1.0
        if near is not None and res.signed:
            batch = np.asarray(res.signed, dtype=np.int64)
            near.add_signatures(keys=survivors["key"].take(batch).to_pylist(), signatures=res.signatures,
                                ranks=ranks[batch].tolist(), unique=True)
            quality[batch] = res.quality
            signed.append(batch)
        if spilled is not None and res.signed:
            batch = np.asarray(res.signed, dtype=np.int64)
            spilled.add_signatures(res.signatures, ranks[batch])
            quality[batch] = res.quality
            signed.append(batch)
        bar.update(len(res.dropped) + len(res.passed))
    bar.close()
    clock.lap("filter_sign")
    if near is not None:
        if signed:  # rank again now that every signed text has its score (a duplicate keeps the better text)
            near.set_ranks(_keep_ranks(survivors, quality)[np.concatenate(signed)].tolist())
        # An executor that can group rows (Ray: a distributed shuffle) groups the LSH buckets; same clusters.
        result = (grouped_near_dedup(near, executor) if hasattr(executor, "map_groups")  # type: ignore[arg-type]
                  else near.finalize(threads=executor.workers))
        number = {key: n for n, key in enumerate(near.index.keys)}
        order = rows[np.concatenate(signed)] if signed else np.empty(0, dtype=np.int64)  # -> candidate row
        dups = result.duplicate_of
        dropped = order[[number[key] for key in dups]]
        fates.drop(dropped, "near_dedup", "near duplicate")
        fates.duplicate_of[dropped] = order[[number[d.kept_key] for d in dups.values()]]
        fates.similarity[dropped] = [d.similarity for d in dups.values()]
    if spilled is not None:
        if signed:  # as above: ranked again with every signed text's score
            spilled.set_ranks(_keep_ranks(survivors, quality)[np.concatenate(signed)])
        found = spilled.finalize()
        order = rows[np.concatenate(signed)] if signed else np.empty(0, dtype=np.int64)
        dropped = order[found.dropped]
        fates.drop(dropped, "near_dedup", "near duplicate")
        fates.duplicate_of[dropped] = order[found.kept]
        fates.similarity[dropped] = found.similarity
    # An exact duplicate whose keeper was dropped by near dedup points at the final keeper.
    exact = np.flatnonzero(fates.stage == fates.stages.index("exact_dedup"))
    keepers = fates.duplicate_of[exact]
    moved = fates.stage[keepers] == fates.stages.index("near_dedup")
    fates.duplicate_of[exact[moved]] = fates.duplicate_of[keepers[moved]]
    clock.lap("near_dedup")


def _drops_by_stage(fates: _Fates) -> list[tuple[str, int]]:
    counts = np.bincount(fates.stage[fates.stage >= 0], minlength=len(fates.stages))
    return [(stage, int(n)) for stage, n in zip(fates.stages, counts) if n]


def _insert_fates(conn: Connection, release_id: int, cands: Candidates, fates: _Fates) -> None:
    """One row per candidate, through the driver's executemany (a build records every document, so
    this is the bulk path: no per-row ORM or SQL-expression work)."""
    cols = ("release_id", "document_id", "status", "stage", "reason", "duplicate_of", "similarity")
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {ReleaseDocument.__tablename__} ({', '.join(cols)}) "
           f"VALUES ({', '.join([mark] * len(cols))})")
    ids = cands.numpy("id")
    stage_names = np.array([*fates.stages, None], dtype=object)
    reason_texts = np.array([*fates.reasons, None], dtype=object)
    for start in range(0, len(ids), 5000):  # a batch at a time: memory holds one batch's objects
        end = start + 5000
        dropped = fates.stage[start:end] >= 0
        status = np.where(dropped, "dropped", "kept").astype(object)
        has_dup = fates.duplicate_of[start:end] >= 0
        duplicate_of = np.where(has_dup, ids[np.where(has_dup, fates.duplicate_of[start:end], 0)], 0).astype(object)
        duplicate_of[~has_dup] = None
        sims = fates.similarity[start:end]
        similarity = sims.astype(object)
        similarity[np.isnan(sims)] = None
        conn.exec_driver_sql(sql, list(zip(
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


def _funnel(cands: Candidates, fates: _Fates) -> Funnel:
    """Every candidate passes the stages before the one that dropped it (or all of them).

    Documents are first grouped by (dropping stage, reason, language): the funnel is then filled
    once per group and stage, not once per document and stage."""
    language = cands.table["language"].combine_chunks().dictionary_encode()
    languages = language.dictionary.to_pylist()
    group = ((fates.stage.astype(np.int64) + 1) * (len(fates.reasons) + 1) + fates.reason + 1) \
        * len(languages) + language.indices.to_numpy()
    keys, inverse = np.unique(group, return_inverse=True)
    docs = np.bincount(inverse, minlength=len(keys))
    words = np.zeros(len(keys), dtype=np.int64)
    np.add.at(words, inverse, cands.numpy("words"))
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
            funnel.record(name, languages[lang], w, kept=not dropped,
                          reason=fates.reasons[reason - 1] if dropped else None, docs=n)
    return funnel


def _check_languages(cands: Candidates, fates: _Fates) -> None:
    """Every language still selected will name a folder of the release: refuse, before the long
    work, one that cannot (a registry filled before language codes were validated)."""
    alive = cands.table.take(fates.alive())
    for language in pc.unique(alive["language"]).to_pylist():
        if not safe_config(language):
            keys = alive.filter(pc.equal(alive["language"], language))["key"].to_pylist()
            raise BuildError(f"document {keys[0]} has language {language!r}, which is not a language code"
                             + (f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""),
                             hint="fix its language in sources.yaml (documents: ID: language:), then run "
                                  "`sources sync` and `ingest` again")


def _write_shards(spec: BuildSpec, store_url: str, kept: pa.Table, out_dir: Path, executor: Executor, *,
                  progress: bool, added: dict[str, str | None], tokenizer: TokenizerRef | None = None,
                  meanwhile: Callable[[], None] | None = None
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Plan every shard from metadata alone, then write them (in parallel where the executor can),
    running ``meanwhile`` in this process once the tasks are handed out.

    Rows go to their language's config (share-alike ones to their own), sorted by language and key;
    with the dolma format, each shard's rows are also written in dolma's layout (``added``: the
    date each source was retrieved); with a ``tokenizer``, each row's tokens are counted there."""
    dolma = "dolma" in spec.output.formats
    counting = (tokenizer.path, tokenizer.sha256) if tokenizer is not None else None
    config = pc.if_else(pc.equal(kept["tier"], licences.Tier.SHARE_ALIKE.value), SHARE_ALIKE_CONFIG,
                        kept["language"])
    order = pc.sort_indices(pa.table({"config": config, "language": kept["language"], "key": kept["key"]}),
                            sort_keys=[("config", "ascending"), ("language", "ascending"), ("key", "ascending")]
                            ).to_numpy()
    tier = kept["tier"].combine_chunks().dictionary_encode()
    open_type = pa.DictionaryArray.from_arrays(
        tier.indices, pa.array([OPEN_TYPES.get(t) for t in tier.dictionary.to_pylist()], pa.string()))
    rows = pa.table({
        "identifier": kept["identifier"], "collection": kept["collection"], "open_type": open_type.cast(pa.string()),
        "license": kept["license"], "date": kept["date"], "title": kept["title"], "creator": kept["creator"],
        "language": kept["language"], "word_count": kept["words"], "source": kept["source"], "url": kept["url"],
        "sha256": kept["sha256"], "_shard": kept["shard"],
    })
    config = config.take(order)
    sizes = kept["bytes"].take(order).to_pylist()
    changes = pc.not_equal(config[1:], config[:-1]) if len(config) > 1 else pa.array([], pa.bool_())
    bounds = (np.flatnonzero(np.asarray(changes)) + 1).tolist()
    spans = list(zip([0, *bounds], [*bounds, len(config)]))
    by_config = {config[s].as_py(): (s, e) for s, e in spans}

    def tasks() -> Iterator[ShardTask]:
        for name, (first, last) in by_config.items():
            plan = plan_shards(sizes[first:last], max_rows=spec.output.max_rows_per_shard,
                               max_bytes=spec.output.max_bytes_per_shard)
            start = first
            for index, n in enumerate(plan):
                copy = str(out_dir / dolma_path(name, index, len(plan))) if dolma else None
                yield ShardTask(store_url, str(out_dir / shard_path(name, index, len(plan))),
                                rows.take(order[start:start + n]),  # taken: a copy of just these rows
                                dolma=copy, added=added, tokenizer=counting)
                start += n

    files: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=kept.num_rows, desc="write", unit="doc", disable=None if progress else True, leave=False)
    written = executor.map(write_shard_task, tasks())  # local workers: every task submitted already
    if meanwhile is not None:
        meanwhile()
    for path, info in written:
        files[Path(path).relative_to(out_dir).as_posix()] = info
        bar.update(info["rows"])
    bar.close()
    configs: dict[str, list[str]] = {}
    language_configs = sorted(c for c in by_config if c != SHARE_ALIKE_CONFIG)
    if language_configs:
        configs["default"] = [f"data/{c}/*.parquet" for c in language_configs]
    for c in language_configs:
        configs[c] = [f"data/{c}/*.parquet"]
    if SHARE_ALIKE_CONFIG in by_config:
        configs[SHARE_ALIKE_CONFIG] = [f"data/{SHARE_ALIKE_CONFIG}/*.parquet"]
    return files, configs


def _sources(registry: Registry, cands: Candidates) -> dict[str, dict[str, Any]]:
    """What the manifest, the card and the dolma copy say of each candidate source: its licence in
    force (the registry's current decisions); ``registered``: the day its latest current document
    was registered (when the data was collected, if the catalogue gives no ``retrieved`` date)."""
    slugs = pc.unique(cands.table["source"]).to_pylist()
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


def _write_removed(cands: Candidates, fates: _Fates, out_dir: Path) -> dict[str, Any]:
    """removed.parquet: every candidate not kept, in registry order, with its stage and reason and,
    for a duplicate, the kept document it duplicates (``source/identifier``) and how closely."""
    table = cands.table
    stage_names = np.array([*fates.stages, None], dtype=object)
    reason_texts = np.array([*fates.reasons, None], dtype=object)

    def groups() -> Iterator[pa.Table]:  # built a row group at a time: memory holds one group
        everything = np.flatnonzero(fates.stage >= 0)
        for start in range(0, len(everything), ROW_GROUP):
            dropped = everything[start:start + ROW_GROUP]
            has_dup = fates.duplicate_of[dropped] >= 0
            dup_rows = np.where(has_dup, fates.duplicate_of[dropped], 0)
            duplicate_of = pc.if_else(pa.array(has_dup), table["key"].take(pa.array(dup_rows)),
                                      pa.scalar(None, pa.string()))
            similarity = fates.similarity[dropped]
            yield pa.table({
                "identifier": table["identifier"].take(dropped), "source": table["source"].take(dropped),
                "sha256": table["sha256"].take(dropped), "language": table["language"].take(dropped),
                "word_count": table["words"].take(dropped),
                "stage": pa.array(stage_names[fates.stage[dropped]].tolist(), pa.string()),
                "reason": pa.array(reason_texts[fates.reason[dropped]].tolist(), pa.string()),
                "duplicate_of": duplicate_of,
                "similarity": pa.array(similarity, pa.float64(), mask=np.isnan(similarity)),
            }, schema=REMOVED_SCHEMA)

    info = write_shard(out_dir / REMOVED, groups(), schema=REMOVED_SCHEMA)
    by_stage = dict(_drops_by_stage(fates))
    return {"sha256": info["sha256"], "rows": info["rows"], "by_stage": by_stage}


def _counts(table: pa.Table, keys: list[str]) -> list[tuple[tuple[Any, ...], int, int]]:
    """(key values, documents, words) per distinct combination of ``keys``, sorted."""
    grouped = table.group_by(keys).aggregate([("words", "count"), ("words", "sum")]).to_pylist()
    return sorted((tuple(g[k] for k in keys), g["words_count"], g["words_sum"]) for g in grouped)


def _write_metadata(registry: Registry, spec: BuildSpec, cands: Candidates, kept_rows: np.ndarray, funnel: Funnel,
                    files: dict[str, dict[str, Any]], configs: dict[str, list[str]], out_dir: Path, *,
                    sources: dict[str, dict[str, Any]], removed: dict[str, Any],
                    tokenizer: TokenizerRef | None = None, kept: pa.Table | None = None) -> BuildResult:
    """Everything beside the shards, each derived from the manifest: croissant.json, the card,
    ATTRIBUTION.md, the funnel chart; then the manifest itself, listing every file's sha256.

    With a tokenizer, the shards' token counts are summed per language and per source (the
    manifest's ``counts.kept_tokens``, ``counts.tokens_by_language``, each source's ``tokens`` and
    the funnel's last stage); without one these are null."""
    candidates, state = len(cands), cands.state
    kept = cands.table.take(kept_rows) if kept is None else kept  # the caller's copy, not a second one
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
                   for (lic, tier), n, w in _counts(kept, ["license", "tier"])]
    languages = sorted(pc.unique(kept["language"]).to_pylist())
    kept_sources = [{**{k: v for k, v in sources[slug].items()}, "documents": n, "words": w,
                     "tokens": None if by_source is None else by_source.get(slug, 0)}
                    for (slug,), n, w in _counts(kept, ["source"])]
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
        "counts": {"candidates": candidates, "kept": kept.num_rows,
                   "kept_words": int(pc.sum(kept["words"]).as_py() or 0),
                   "kept_bytes": int(pc.sum(kept["bytes"]).as_py() or 0),
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
    credited = [lic for lic in pc.unique(kept["license"]).to_pylist() if licences.parse(lic).requires_attribution]
    owed = kept.filter(pc.is_in(kept["license"], value_set=pa.array(credited, pa.string())))
    owed = owed.take(pc.sort_indices(owed["key"]))
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


def _stage_release(session: Session, spec: BuildSpec, cands: Candidates, fates: _Fates, out_dir: Path, *,
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
