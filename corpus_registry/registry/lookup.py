"""Read-only questions to the registry: totals (``stats``) and one document's provenance (``show``)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import and_, func, or_, select

from corpus_registry.errors import NotFoundError, StoreError
from corpus_registry.registry.db.models import Blob, Document, IngestRun, Source, Withdrawal
from corpus_registry.registry.decisions import history
from corpus_registry.registry.ingest_runs import mark_stale_runs
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.standing import load_standings, withdrawn_texts
from corpus_registry.registry.store import naming

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def stats(registry: Registry) -> dict[str, Any]:
    """Documents, words and bytes of current documents per source, language and licence tier.
    Ingest runs left ``running`` by a process that is gone are marked ``interrupted`` first."""
    with registry.session() as s:
        mark_stale_runs(s)
    cols = (func.count(), func.coalesce(func.sum(Document.word_count), 0),
            func.coalesce(func.sum(Document.byte_size), 0))

    def grouped(*keys: Any) -> list[dict[str, Any]]:
        q = (select(*keys, *cols).join(Source, Source.id == Document.source_id)
             .where(Document.is_current.is_(True), Document.status == "active")
             .group_by(*keys).order_by(*keys))
        with registry.session() as s:
            rows = s.execute(q).all()
        names = [k.key for k in keys]
        return [
            {**dict(zip(names, r[: len(keys)])), "documents": r[-3], "words": int(r[-2]), "bytes": int(r[-1])}
            for r in rows
        ]

    by_source = grouped(Source.slug, Source.collection, Source.license, Source.license_tier)
    with registry.session() as s:
        per_source: dict[str, dict[str, list[str]]] = {}
        for column, name in ((Document.language, "languages"), (Document.license_tier, "tiers")):
            for slug, value, n in s.execute(
                select(Source.slug, column, func.count())
                .join(Source, Source.id == Document.source_id)
                .where(Document.is_current.is_(True), Document.status == "active")
                .group_by(Source.slug, column)
                .order_by(Source.slug, func.count().desc(), column)
            ):
                per_source.setdefault(slug, {}).setdefault(name, []).append(f"{value}:{n}")
        withdrawn = s.scalar(select(func.count()).where(Document.is_current.is_(True),
                                                         Document.status == "withdrawn"))
    for row in by_source:
        row["languages"] = per_source.get(row["slug"], {}).get("languages", [])
        row["tiers"] = per_source.get(row["slug"], {}).get("tiers", [])
    totals = {k: sum(r[k] for r in by_source) for k in ("documents", "words", "bytes")}
    return {
        "registry": registry.display_url,
        "totals": {**totals, "withdrawn": withdrawn or 0},
        "by_source": by_source,
        "by_language": grouped(Document.language),
        "by_license_tier": grouped(Document.license_tier),
        "by_license": grouped(Document.license),
    }


def find_document(registry: Registry, ref: str) -> Document:
    """A current document by ``identifier``, ``source/identifier`` or sha256 (prefix ≥ 8); the
    reference may be in any Unicode normal form (identifiers are registered in NFC)."""
    ref = unicodedata.normalize("NFC", ref.strip())
    if _UNSTORABLE.search(ref):  # no identifier holds one (PostgreSQL could not even compare it)
        raise NotFoundError(f"no document {ref!r} in the registry", hint="identifiers hold no control characters")
    conds = [Document.identifier == ref]
    if "/" in ref:
        slug, ident = ref.split("/", 1)
        conds.append(and_(Source.slug == slug, Document.identifier == ident))
    if len(ref) >= 8 and all(c in "0123456789abcdef" for c in ref):
        conds.append(Document.sha256.startswith(ref))
    with registry.session() as s:
        docs = list(s.scalars(
            select(Document).join(Source, Source.id == Document.source_id)
            .where(Document.is_current.is_(True), or_(*conds)).limit(20)
        ))
        for d in docs:
            _ = d.source.slug  # load while the session is open
    if not docs:
        raise NotFoundError(f"no document {ref!r} in the registry",
                            hint="use an identifier, SOURCE/IDENTIFIER or a sha256 prefix (see `corpus-registry stats`)")
    if len(docs) > 1:
        names = ", ".join(f"{d.source.slug}/{d.identifier}" for d in docs[:5])
        raise NotFoundError(f"{ref!r} is ambiguous: {names}", hint="use SOURCE/IDENTIFIER")
    return docs[0]


def show(registry: Registry, ref: str, *, with_text: bool = True) -> dict[str, Any]:
    """A document's full provenance record (source, licence as today's decisions give it, versions,
    withdrawals, the licence decisions about it and its source) and its text."""
    return record(registry, find_document(registry, ref), with_text=with_text)


def exact_document(registry: Registry, *, source: str, identifier: str) -> Document:
    """The current version of ``identifier`` in ``source`` (no other reading of the names)."""
    if _UNSTORABLE.search(source) or _UNSTORABLE.search(identifier):
        raise NotFoundError(f"no document {identifier!r} in source {source!r}",
                            hint="identifiers hold no control characters")
    with registry.session() as s:
        doc = s.scalar(select(Document).join(Source, Source.id == Document.source_id)
                       .where(Source.slug == source, Document.identifier == identifier)
                       .order_by(Document.is_current.desc(), Document.version.desc()).limit(1))
    if doc is None:
        raise NotFoundError(f"no document {identifier!r} in source {source!r}",
                            hint="search for it, or browse the source's documents")
    return doc


def record(registry: Registry, doc: Document, *, with_text: bool = True) -> dict[str, Any]:
    """The provenance record of ``doc`` (see :func:`show`)."""
    with registry.session() as s:
        src = s.get(Source, doc.source_id)
        assert src is not None
        standings = load_standings(s.connection(), source_ids=[doc.source_id])
        verdict = standings.verdict(doc.source_id, doc.identifier, doc.declared_license)
        text_withdrawn = withdrawn_texts(s.connection()).get(doc.sha256)
        blob = s.get(Blob, doc.sha256)
        versions = s.execute(
            select(Document.version, Document.sha256, Document.created_at)
            .where(Document.source_id == doc.source_id, Document.identifier == doc.identifier)
            .order_by(Document.version)
        ).all()
        run = s.get(IngestRun, doc.ingest_run_id) if doc.ingest_run_id else None
        withdrawals = s.execute(
            select(Withdrawal.reason, Withdrawal.created_at).where(
                Withdrawal.source_id == doc.source_id, Withdrawal.sha256.is_(None),
                or_(Withdrawal.document_identifier.is_(None),
                    Withdrawal.document_identifier == doc.identifier))
        ).all()
    record: dict[str, Any] = {
        "identifier": doc.identifier,
        "source": src.slug,
        "source_name": src.name,
        "collection": src.collection,
        "license": verdict.license,
        "license_tier": verdict.tier.value,
        "review": verdict.review,
        "declared_license": doc.declared_license,
        "source_license": standings.sources[doc.source_id].license,
        "attribution": src.attribution,
        "url": doc.url,
        "path": doc.path,
        "title": doc.title,
        "creator": doc.creator,
        "date": doc.date,
        "language": doc.language,
        "language_score": doc.language_score,
        "mixed_language": doc.mixed_language,
        "word_count": doc.word_count,
        "byte_size": doc.byte_size,
        "sha256": doc.sha256,
        "status": "withdrawn" if text_withdrawn or src.status == "withdrawn" else doc.status,
        "version": doc.version,
        "versions": [{"version": v, "sha256": h, "registered": c.isoformat()} for v, h, c in versions],
        "ingested": run.started_at.isoformat() if run else None,
        "withdrawals": [{"reason": r, "date": c.isoformat()} for r, c in withdrawals]
        + ([{"reason": f"its text is withdrawn: {text_withdrawn}", "date": None}] if text_withdrawn else []),
        "decisions": [d.as_dict() for d in history(registry, source=src.slug, identifier=doc.identifier)],
        "extra": doc.extra,
        "shard": blob.shard if blob else None,
    }
    if with_text:
        try:
            record["text"] = registry.store.get(doc.sha256, blob.shard if blob else None)
        except StoreError as e:
            raise naming(e, [f"{src.slug}/{doc.identifier}"]) from e
    return record


def documents_with_text(registry: Registry, sha256: str, *, limit: int = 20) -> list[str]:
    """SOURCE/IDENTIFIER of the current documents whose text is ``sha256`` (to name them in errors)."""
    with registry.session() as s:
        rows = s.execute(select(Source.slug, Document.identifier).join(Source, Source.id == Document.source_id)
                         .where(Document.sha256 == sha256, Document.is_current.is_(True))
                         .order_by(Source.slug, Document.identifier).limit(limit)).all()
    return [f"{slug}/{ident}" for slug, ident in rows]
