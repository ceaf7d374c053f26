"""Check the whole document store against the registry (``verify``) and rewrite damaged texts from
their source (``ingest --repair``).

The store is content-addressed, so a text is right when it hashes to its sha256: ``verify`` reads
every shard the registry points to, once, and hashes every text a document refers to. Repair reads
the source again and rewrites exactly the texts found missing or damaged (into a shard of their own,
the blob rows pointed at it); documents, versions and ingest runs are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tqdm import tqdm

from corpus_registry.errors import NotFoundError
from corpus_registry.registry.db.models import Blob, Document, Source
from corpus_registry.registry.documents import normalize_text, text_sha256
from corpus_registry.registry.ingest import source_reader
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.store import Problem

#: Texts rewritten per repair shard.
REPAIR_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Damage:
    """A text that cannot be read back, and every document (any version) that refers to it."""

    sha256: str
    shard: str | None
    problem: str  # missing_shard, unreadable_shard, missing_text, damaged_text
    detail: str
    documents: list[str]  # SOURCE/IDENTIFIER (vN when not the current version)


@dataclass(slots=True)
class VerifyReport:
    store: str
    texts: int = 0  # distinct texts referred to by documents
    shards: int = 0
    damaged: list[Damage] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.damaged


@dataclass(slots=True)
class RepairReport:
    source: str
    damaged: int = 0  # texts of the source found missing or damaged
    repaired: int = 0
    unrepaired: list[Damage] = field(default_factory=list)  # not (or no longer) yielded by the source
    documents_read: int = 0


def verify_store(registry: Registry, *, source: str | None = None, progress: bool = True) -> VerifyReport:
    """Every text a document refers to (of ``source``, or of the whole registry) read back and hashed."""
    with registry.session() as s:
        source_id = _source_id(s, source) if source else None
        refs = _references(s, source_id)
    report = VerifyReport(store=registry.store.url, texts=len(refs))
    report.damaged = _damage(registry, refs, progress=progress, desc="verify")
    report.shards = len({shard for shard, _ in refs.values()})
    return report


def repair_source(registry: Registry, slug: str, *, progress: bool = True) -> RepairReport:
    """Rewrite the texts of ``slug``'s documents that are missing or damaged in the store, read again
    from the source. Nothing else in the registry changes (no new version, no ingest run)."""
    with registry.session() as s:
        source = s.scalar(select(Source).where(Source.slug == slug))
        if source is None:
            raise NotFoundError(f"no source {slug!r} in the registry",
                                hint="add it to sources.yaml and run `corpus-registry sources sync`")
        refs = _references(s, source.id)
        s.expunge(source)
    report = RepairReport(source=slug)
    damage = {d.sha256: d for d in _damage(registry, refs, progress=progress, desc=f"check {slug}")}
    report.damaged = len(damage)
    if not damage:
        return report
    reader = source_reader(source)  # the same reader as ingest, its paths checked the same way
    found: dict[str, str] = {}
    bar = tqdm(desc=f"repair {slug}", unit="doc", disable=None if progress else True, leave=False)
    for raw in reader.read():
        report.documents_read += 1
        bar.update(1)
        text = normalize_text(raw.text)
        sha = text_sha256(text)
        if sha in damage and sha not in found:
            found[sha] = text
            if len(found) % REPAIR_BATCH == 0:
                _rewrite(registry, list(found.items())[-REPAIR_BATCH:])
            if len(found) == len(damage):
                break
    bar.close()
    if len(found) % REPAIR_BATCH:
        _rewrite(registry, list(found.items())[-(len(found) % REPAIR_BATCH):])
    report.repaired = len(found)
    report.unrepaired = [d for sha, d in damage.items() if sha not in found]
    return report


def active_sources(registry: Registry) -> list[str]:
    """The slugs of the active sources (what a bare ``ingest`` ingests), in order."""
    with registry.session() as s:
        return list(s.scalars(select(Source.slug).where(Source.status == "active").order_by(Source.slug)))


def _rewrite(registry: Registry, texts: list[tuple[str, str]]) -> None:
    """Write ``texts`` into a fresh shard (replacing a damaged file of the same name) and point their
    blob rows at it."""
    shard = registry.store.put(texts, replace=True)
    with registry.session() as s:
        known = set(s.scalars(select(Blob.sha256).where(Blob.sha256.in_([sha for sha, _ in texts]))))
        s.execute(update(Blob).where(Blob.sha256.in_(known)).values(shard=shard))
        for sha, text in texts:
            if sha not in known:
                s.add(Blob(sha256=sha, shard=shard, byte_size=len(text.encode("utf-8"))))


def _source_id(s: Session, slug: str) -> int:
    sid = s.scalar(select(Source.id).where(Source.slug == slug))
    if sid is None:
        raise NotFoundError(f"no source {slug!r} in the registry", hint="see `corpus-registry sources list`")
    return sid


def _references(s: Session, source_id: int | None) -> dict[str, tuple[str | None, list[str]]]:
    """sha256 → (its shard, the documents referring to it) for every document (any version)."""
    q = (select(Document.sha256, Blob.shard, Source.slug, Document.identifier, Document.version,
                Document.is_current)
         .join(Source, Source.id == Document.source_id)
         .outerjoin(Blob, Blob.sha256 == Document.sha256)
         .order_by(Blob.shard, Document.sha256, Source.slug, Document.identifier, Document.version))
    if source_id is not None:
        q = q.where(Document.source_id == source_id)
    refs: dict[str, tuple[str | None, list[str]]] = {}
    for sha, shard, slug, ident, version, current in s.execute(q).yield_per(10_000):
        entry = refs.setdefault(sha, (shard, []))
        entry[1].append(f"{slug}/{ident}" if current else f"{slug}/{ident} (v{version})")
    return refs


def _damage(registry: Registry, refs: dict[str, tuple[str | None, list[str]]], *, progress: bool,
            desc: str) -> list[Damage]:
    """The texts of ``refs`` that do not read back, each shard read once."""
    by_shard: dict[str | None, list[str]] = {}
    for sha, (shard, _) in refs.items():
        by_shard.setdefault(shard, []).append(sha)
    store = registry.store
    out: list[Damage] = []
    bar = tqdm(total=len(refs), desc=desc, unit="text", disable=None if progress else True, leave=False)
    for shard, shas in by_shard.items():
        problems: dict[str, Problem] = (
            dict.fromkeys(shas, Problem("missing_text", "the registry knows no shard holding the text"))
            if shard is None else store.problems(shard, shas))
        out.extend(Damage(sha, shard, p.kind, p.detail, refs[sha][1]) for sha, p in problems.items())
        bar.update(len(shas))
    bar.close()
    return out


def describe_damage(damage: Iterable[Damage]) -> list[str]:
    """One line per damaged document."""
    return [f"{doc}: {d.detail} (text {d.sha256[:12]}…, shard {d.shard or '-'})"
            for d in damage for doc in d.documents]

