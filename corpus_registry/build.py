"""Build a release: select from the registry, filter, deduplicate, write shards, card and manifest.

Stages run in this order and each records its drops in the funnel:
selected → licence → withdrawn → language → each quality filter → exact dedup → near dedup → kept.
Metadata stages run on registry rows alone; texts are read from the store only for documents that
survive them, once for filtering and signing, once more for writing the kept rows.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from sys import intern
from typing import Any

from sqlalchemy import Connection, delete, select
from tqdm import tqdm

from . import licences
from .card import card_metadata, render_attribution, render_card
from .db.models import Blob, Document, Release, ReleaseDocument, Source, Withdrawal, utcnow
from .dedup import MinHasher, keep_rank
from .errors import BuildError
from .executors import Executor, LocalExecutor
from .filters import BuildDoc, FilterConfig, build_filters
from .funnel import Funnel
from .registry import Registry
from .release import (
    ATTRIBUTION,
    CARD,
    FUNNEL_PNG,
    MANIFEST,
    OPEN_TYPES,
    ROW_GROUP,
    SHARE_ALIKE_CONFIG,
    plan_shards,
    sha256_file,
    shard_path,
    write_manifest,
    write_shard,
)
from .spec import BuildSpec
from .store import DocumentStore

META_STAGES = ("selected", "licence", "withdrawn", "language")


@dataclass(slots=True)
class _Doc:
    """What a build keeps per candidate: registry metadata, never the text."""

    id: int
    key: str  # "source/identifier"
    source: str
    sha256: str
    shard: str
    language: str
    score: float
    words: int
    bytes: int
    license: str
    tier: str
    status: str
    date: str | None
    title: str | None
    creator: str | None
    url: str | None
    collection: str
    drop_stage: str | None = None
    reason: str | None = None
    duplicate_of: str | None = None
    similarity: float | None = None

    @property
    def identifier(self) -> str:
        return self.key.split("/", 1)[1]  # slugs have no "/"


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


def _candidates(registry: Registry, spec: BuildSpec) -> Iterator[_Doc]:
    sel = spec.select
    q = (
        select(Document.id, Document.identifier, Document.sha256, Document.language, Document.language_score,
               Document.word_count, Document.byte_size, Document.license, Document.license_tier,
               Document.status, Document.date, Document.title, Document.creator, Document.url,
               Source.slug, Source.collection, Blob.shard)
        .join(Source, Source.id == Document.source_id)
        .join(Blob, Blob.sha256 == Document.sha256)
        .where(Document.is_current.is_(True))
        .order_by(Source.slug, Document.identifier)
    )
    if sel.sources:
        q = q.where(Source.slug.in_(sel.sources))
    if sel.collections:
        q = q.where(Source.collection.in_([c.value for c in sel.collections]))
    if sel.date_from:
        q = q.where(Document.date >= sel.date_from)
    if sel.date_to:
        q = q.where(Document.date <= sel.date_to + "\uffff")
    with registry.session() as s:
        for d in s.execute(q.execution_options(yield_per=5000)):
            yield _Doc(  # repeated values interned: a build holds every candidate's metadata
                id=d.id, key=f"{d.slug}/{d.identifier}", source=intern(d.slug),
                sha256=d.sha256, shard=intern(d.shard), language=intern(d.language), score=d.language_score,
                words=d.word_count, bytes=d.byte_size, license=intern(d.license), tier=intern(d.license_tier),
                status=intern(d.status), date=d.date, title=d.title, creator=d.creator, url=d.url,
                collection=intern(d.collection),
            )


def _metadata_stage(doc: _Doc, spec: BuildSpec) -> tuple[str, str] | None:
    """The first metadata stage that drops ``doc``, with the reason; None if it passes them all."""
    sel = spec.select
    allowed = {t.value for t in sel.license_tiers}
    if doc.tier not in allowed:
        return "licence", f"tier:{doc.tier}"
    if sel.licenses is not None and doc.license not in sel.licenses:
        return "licence", "not in licence allow-list"
    if doc.status != "active":
        return "withdrawn", doc.status
    if sel.languages is not None and doc.language not in sel.languages:
        return "language", f"language:{doc.language}"
    if doc.score < sel.min_language_score:
        return "language", "low language score"
    return None


def _exact_duplicates(docs: list[_Doc]) -> dict[int, int]:
    """Index of each exact duplicate → index of the document kept for its text (same rule as near dedup).

    Identical texts pass or fail the quality filters alike, so this can be decided before filtering.
    """
    order = sorted(range(len(docs)), key=lambda i: docs[i].sha256)
    out: dict[int, int] = {}
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order) or docs[order[end]].sha256 != docs[order[start]].sha256:
            if end - start > 1:
                group = order[start:end]
                best = min(group, key=lambda i: _rank(docs[i]))
                out.update((i, best) for i in group if i != best)
            start = end
    return out


def _rank(d: _Doc) -> tuple[bool, str, int, str]:
    """The keep rule shared with near dedup: earliest date, then most words, then smallest key."""
    return keep_rank(date=d.date, word_count=d.words, key=d.key)


def registry_state(docs: list[_Doc], withdrawals: list[tuple[str, str]]) -> str:
    """A digest of everything the build read from the registry (independent of the backend)."""
    h = hashlib.sha256()
    for d in docs:
        h.update("\x1f".join(map(str, (d.key, d.sha256, d.license, d.tier, d.status, d.language,
                                       d.score, d.words, d.date, d.title, d.creator, d.url))).encode())
        h.update(b"\x1e")
    for w in withdrawals:
        h.update(repr(w).encode())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class SignTask:
    """One chunk of per-document work (filters + MinHash signature), picklable for any executor."""

    store_url: str
    filters: dict[str, Any]
    minhash: tuple[int, int, int] | None  # num_perm, ngram, seed; None when near dedup is off
    items: list[tuple[int, str, str, int, str, str | None, bool]]  # index, sha, shard, words, lang, date, sign


@dataclass(slots=True)
class SignResult:
    """Per task: the documents a filter dropped, and the signatures of those to deduplicate."""

    dropped: list[tuple[int, str, str]]  # index, "filter:NAME", reason
    passed: list[int]  # indexes that passed every filter, in task order
    signed: list[int]  # indexes with a row in ``signatures``
    signatures: Any  # numpy array (len(signed), num_perm) or None


def filter_and_sign(task: SignTask) -> SignResult:
    """Run the quality filters on each item, then MinHash-sign the survivors in one batch."""
    store = _store(task.store_url)
    filters = _filters(json.dumps(task.filters, sort_keys=True))
    result = SignResult(dropped=[], passed=[], signed=[], signatures=None)
    texts: list[str] = []
    for index, sha, shard, words, lang, date, sign in task.items:
        text = store.get(sha, shard)
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
                texts.append(text)
    if texts:
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
    """One output shard: its rows without text (texts are read from the store where it runs)."""

    store_url: str
    path: str
    rows: list[dict[str, Any]]


def write_shard_task(task: ShardTask) -> tuple[str, dict[str, Any]]:
    """Write one output shard, fetching texts a row group at a time (each store shard opened once
    per group), so a worker's memory does not depend on the shard's size."""
    store = _store(task.store_url)

    def groups() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(task.rows), ROW_GROUP):
            chunk = task.rows[start:start + ROW_GROUP]
            texts = dict(store.get_many((r["sha256"], r["_shard"]) for r in chunk))
            yield [{**{k: v for k, v in r.items() if k != "_shard"}, "text": texts[r["sha256"]]} for r in chunk]

    return task.path, write_shard(Path(task.path), groups())


def _sign_tasks(spec: BuildSpec, store_url: str, survivors: list[_Doc], exact_of: dict[int, int],
                max_docs: int = 2000, max_bytes: int = 64 << 20) -> Iterator[SignTask]:
    """Chunks of survivors in store order (each shard read by as few tasks as possible)."""
    minhash = (spec.dedup.num_perm, spec.dedup.ngram, spec.dedup.seed) if spec.dedup.near else None
    filters = spec.filters.model_dump(mode="json")
    items: list[tuple[int, str, str, int, str, str | None, bool]] = []
    size = 0
    for i in sorted(range(len(survivors)), key=lambda i: (survivors[i].shard, survivors[i].sha256, survivors[i].key)):
        d = survivors[i]
        items.append((i, d.sha256, d.shard, d.words, d.language, d.date, i not in exact_of))
        size += d.bytes
        if len(items) >= max_docs or size >= max_bytes:
            yield SignTask(store_url, filters, minhash, items)
            items, size = [], 0
    if items:
        yield SignTask(store_url, filters, minhash, items)


def build_release(
    registry: Registry,
    spec: BuildSpec,
    *,
    out_dir: Path,
    progress: bool = True,
    record: bool = True,
    overwrite: bool = True,
    executor: Executor | None = None,
) -> BuildResult:
    """Build ``spec`` from ``registry`` into ``out_dir``; record the release and every document's fate.

    ``executor`` runs the per-document work (default: this process); any executor gives the same files.
    """
    started = time.perf_counter()
    clock = _Clock()
    executor = executor or LocalExecutor(1)
    warm_up = getattr(executor, "warm_up", None)
    if warm_up is not None:
        warm_up(__name__)  # workers import this module while the registry is read
    docs = list(_candidates(registry, spec))
    if not docs:
        raise BuildError(f"{spec.name}: the selection matches no document in the registry",
                         hint="check select.sources/collections/dates, or ingest sources first")
    with registry.session() as s:
        withdrawals = sorted(
            (slug, ident or "") for slug, ident in s.execute(
                select(Source.slug, Withdrawal.document_identifier).join(Source, Source.id == Withdrawal.source_id))
        )
    state = registry_state(docs, withdrawals)
    clock.lap("select")

    survivors: list[_Doc] = []
    for d in docs:
        dropped = _metadata_stage(d, spec)
        if dropped:
            d.drop_stage, d.reason = dropped
        else:
            survivors.append(d)
    if not survivors:
        raise BuildError(f"{spec.name}: no document passes the licence/language selection "
                         f"({len(docs)} candidates)", hint="widen select.languages or select.license_tiers")

    exact_of = _exact_duplicates(survivors) if spec.dedup.exact else {}
    near = spec.dedup.near_dedup() if spec.dedup.near else None
    if near is not None:
        near.reserve(len(survivors) - len(exact_of))
    store_url = registry.store.url
    bar = tqdm(total=len(survivors), desc="filter+sign", unit="doc", disable=None if progress else True,
               leave=False)
    for res in executor.map(filter_and_sign, _sign_tasks(spec, store_url, survivors, exact_of)):
        for i, stage, reason in res.dropped:
            survivors[i].drop_stage, survivors[i].reason = stage, reason
        for i in res.passed:
            if i in exact_of:
                d = survivors[i]
                d.drop_stage, d.reason, d.similarity = "exact_dedup", "exact duplicate", 1.0
                d.duplicate_of = survivors[exact_of[i]].key
        if near is not None and res.signed:
            near.add_signatures(keys=[survivors[i].key for i in res.signed], signatures=res.signatures,
                                ranks=[_rank(survivors[i]) for i in res.signed], unique=True)
        bar.update(len(res.dropped) + len(res.passed))
    bar.close()
    clock.lap("filter_sign")
    if near is not None:
        # An executor may group the LSH buckets itself (Ray: a distributed shuffle); same clusters.
        near_dedup = getattr(executor, "near_dedup", None)
        result = near_dedup(near) if near_dedup is not None else near.finalize()
        near = None  # free the signatures before writing
        duplicate_of = result.duplicate_of
        for d in survivors:
            dup = duplicate_of.get(d.key)
            if dup is not None:
                d.drop_stage, d.reason, d.duplicate_of, d.similarity = (
                    "near_dedup", "near duplicate", dup.kept_key, dup.similarity)
    # An exact duplicate whose keeper was dropped by near dedup points at the final keeper.
    for i, keeper in exact_of.items():
        d, target = survivors[i], survivors[keeper]
        if d.drop_stage == "exact_dedup" and target.drop_stage == "near_dedup":
            d.duplicate_of = target.duplicate_of
    clock.lap("near_dedup")

    filter_names = [f"filter:{f.name}" for f in build_filters(spec.filters)]
    funnel = _funnel(docs, [*META_STAGES, *filter_names, "exact_dedup", "near_dedup", "kept"])
    kept_docs = [d for d in survivors if d.drop_stage is None]
    out_dir = _prepare_out_dir(out_dir, overwrite=overwrite)
    files, configs = _write_shards(spec, store_url, kept_docs, out_dir, executor, progress=progress)
    clock.lap("write_shards")
    result = _write_metadata(registry, spec, docs, kept_docs, funnel, state, files, configs, out_dir)
    result.rows = len(kept_docs)
    clock.lap("metadata")
    if record:
        result.release_id = _record(registry, spec, docs, result, executor=executor.name)
        clock.lap("record")
    result.seconds = time.perf_counter() - started
    result.timings = clock.laps
    return result


def _insert_fates(conn: Connection, release_id: int, docs: list[_Doc], ids: dict[str, int]) -> None:
    """One row per candidate, through the driver's executemany (a build records every document, so
    this is the bulk path: no per-row ORM or SQL-expression work)."""
    cols = ("release_id", "document_id", "status", "stage", "reason", "duplicate_of", "similarity")
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {ReleaseDocument.__tablename__} ({', '.join(cols)}) "
           f"VALUES ({', '.join([mark] * len(cols))})")
    for start in range(0, len(docs), 5000):
        conn.exec_driver_sql(sql, [
            (release_id, d.id, "dropped" if d.drop_stage else "kept", d.drop_stage, d.reason,
             ids.get(d.duplicate_of) if d.duplicate_of else None, d.similarity)
            for d in docs[start:start + 5000]])


class _Clock:
    """Seconds spent per build phase, for the ``--json`` output and benchmarks."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _funnel(docs: list[_Doc], stage_names: list[str]) -> Funnel:
    """Every candidate passes the stages before the one that dropped it (or all of them).

    Documents are first grouped by (dropping stage, reason, language): the funnel is then filled
    once per group and stage, not once per document and stage."""
    groups: dict[tuple[str | None, str | None, str], list[int]] = {}
    for d in docs:
        g = groups.setdefault((d.drop_stage, d.reason, d.language), [0, 0])
        g[0] += 1
        g[1] += d.words
    funnel = Funnel()
    for name in stage_names:
        funnel.stage(name)
    order = {name: i for i, name in enumerate(stage_names)}
    for (drop_stage, reason, language), (n, words) in sorted(groups.items(), key=repr):
        last = order[drop_stage] if drop_stage else len(stage_names) - 1
        for name in stage_names[: last + 1]:
            kept = name != drop_stage
            funnel.record(name, language, words, kept=kept, reason=None if kept else reason, docs=n)
    return funnel


def _prepare_out_dir(out_dir: Path, *, overwrite: bool) -> Path:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise BuildError(f"{out_dir} is not empty", hint="choose another --out or pass --overwrite")
        if not (out_dir / "manifest.json").exists():
            raise BuildError(f"{out_dir} is not empty and is not a release folder",
                             hint="choose an empty or new --out folder")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _config_of(d: _Doc) -> str:
    return SHARE_ALIKE_CONFIG if d.tier == licences.Tier.SHARE_ALIKE.value else d.language


def _write_shards(spec: BuildSpec, store_url: str, kept: list[_Doc], out_dir: Path, executor: Executor, *,
                  progress: bool) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Plan every shard from metadata alone, then write them (in parallel where the executor can)."""
    by_config: dict[str, list[_Doc]] = {}
    for d in sorted(kept, key=lambda x: (_config_of(x), x.language, x.key)):
        by_config.setdefault(_config_of(d), []).append(d)
    def tasks() -> Iterator[ShardTask]:
        for config, ds in by_config.items():
            plan = plan_shards([d.bytes for d in ds], max_rows=spec.output.max_rows_per_shard,
                               max_bytes=spec.output.max_bytes_per_shard)
            start = 0
            for index, n in enumerate(plan):
                rows = [{
                    "identifier": d.identifier, "collection": d.collection, "open_type": OPEN_TYPES[d.tier],
                    "license": d.license, "date": d.date, "title": d.title, "creator": d.creator,
                    "language": d.language, "word_count": d.words, "source": d.source, "url": d.url,
                    "sha256": d.sha256, "_shard": d.shard,
                } for d in ds[start:start + n]]
                yield ShardTask(store_url, str(out_dir / shard_path(config, index, len(plan))), rows)
                start += n

    files: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=len(kept), desc="write", unit="doc", disable=None if progress else True, leave=False)
    for path, info in executor.map(write_shard_task, tasks()):
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


def _write_metadata(registry: Registry, spec: BuildSpec, docs: list[_Doc], kept: list[_Doc], funnel: Funnel,
                    state: str, files: dict[str, dict[str, Any]], configs: dict[str, list[str]],
                    out_dir: Path) -> BuildResult:
    mix: dict[tuple[str, str], list[int]] = {}
    for d in kept:
        m = mix.setdefault((d.license, d.tier), [0, 0])
        m[0] += 1
        m[1] += d.words
    license_mix = [{"license": lic, "tier": tier, "documents": n, "words": w}
                   for (lic, tier), (n, w) in sorted(mix.items())]
    languages = sorted({d.language for d in kept})
    with registry.session() as s:
        src_rows = {src.slug: src for src in s.scalars(select(Source))}
    per_source: dict[str, int] = {}
    for d in kept:
        per_source[d.source] = per_source.get(d.source, 0) + 1
    sources = [{"slug": slug, "name": src_rows[slug].name, "collection": src_rows[slug].collection,
                "license": src_rows[slug].license, "attribution": src_rows[slug].attribution,
                "origin_url": src_rows[slug].origin_url, "documents": n}
               for slug, n in sorted(per_source.items())]
    config_rows = {name: sum(files[p]["rows"] for p in files if any(
        Path(p).match(g) for g in globs)) for name, globs in configs.items()}
    spec_data = spec.canonical()
    manifest: dict[str, Any] = {
        "format": "corpus-registry-release/1",
        "name": spec.name,
        "version": spec.version,
        "spec": spec_data,
        "registry_state": state,
        "counts": {"candidates": len(docs), "kept": len(kept),
                   "kept_words": sum(d.words for d in kept), "funnel": funnel.as_dict()["stages"]},
        "license_mix": license_mix,
        "languages": languages,
        "sources": sources,
        "configs": {n: {"data_files": g, "rows": config_rows[n]} for n, g in configs.items()},
        "shards": {p: files[p]["sha256"] for p in sorted(files)},
        "shard_rows": {p: files[p]["rows"] for p in sorted(files)},
    }
    meta = card_metadata(spec=spec_data, configs=configs, license_mix=license_mix, languages=languages,
                         rows=len(kept))
    attribution = [
        {"source": d.source, "source_name": src_rows[d.source].name,
         "attribution": src_rows[d.source].attribution, "identifier": d.identifier, "title": d.title,
         "license": d.license, "url": d.url}
        for d in sorted(kept, key=lambda x: x.key) if licences.parse(d.license).requires_attribution
    ]
    (out_dir / ATTRIBUTION).write_text(render_attribution(attribution), encoding="utf-8")
    manifest["attribution_required"] = len(attribution)
    funnel.chart(out_dir / FUNNEL_PNG, title=f"{spec.name} {spec.version}: build funnel")
    card = render_card(spec=spec_data, manifest=manifest, meta=meta, sources=sources,
                       funnel_table=funnel.table())
    (out_dir / CARD).write_text(card, encoding="utf-8")
    manifest_sha = write_manifest(out_dir, manifest)
    all_files = {p: files[p]["sha256"] for p in files}
    for name in (ATTRIBUTION, FUNNEL_PNG, CARD, "manifest.json"):
        all_files[name] = sha256_file(out_dir / name)
    return BuildResult(name=spec.name, version=spec.version, out_dir=out_dir, registry_state=state,
                       manifest_sha256=manifest_sha, funnel=funnel, files=dict(sorted(all_files.items())))


def _record(registry: Registry, spec: BuildSpec, docs: list[_Doc], result: BuildResult, *,
            executor: str) -> int:
    """Store the release and the fate of every candidate document, replacing an identical rebuild."""
    wanted = {d.duplicate_of for d in docs if d.duplicate_of}
    by_key = {d.key: d.id for d in docs if d.key in wanted}
    manifest = json.loads((result.out_dir / MANIFEST).read_text(encoding="utf-8"))
    counts, shards = manifest["counts"], manifest["shards"]
    with registry.session() as s:
        rel = s.scalar(select(Release).where(Release.name == spec.name, Release.version == spec.version))
        if rel is not None:
            if rel.manifest_sha256 != result.manifest_sha256 and rel.hub_commit:
                raise BuildError(
                    f"release {spec.name} {spec.version} was already built differently and pushed",
                    hint="a pushed version is immutable: bump `version` in the spec")
            s.execute(delete(ReleaseDocument).where(ReleaseDocument.release_id == rel.id))
            rel.spec, rel.registry_state, rel.counts, rel.shards = spec.canonical(), result.registry_state, counts, shards
            rel.manifest_sha256, rel.out_dir, rel.created_at = result.manifest_sha256, str(result.out_dir), utcnow()
            rel.executor = executor
        else:
            rel = Release(name=spec.name, version=spec.version, spec=spec.canonical(),
                          registry_state=result.registry_state, counts=counts, shards=shards,
                          manifest_sha256=result.manifest_sha256, out_dir=str(result.out_dir),
                          executor=executor)
            s.add(rel)
        s.flush()
        _insert_fates(s.connection(), rel.id, docs, by_key)
        return rel.id
