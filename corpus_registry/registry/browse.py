"""Browsing the registry a page at a time: documents by filter, one source's record, facet counts.

Every list is keyset-paginated: a page ends with a cursor (the last row's key) and the next page
starts after it, so the thousandth page costs what the first does. Within a source documents are
ordered by identifier (the registry's index on source + identifier); across sources by row id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from corpus_registry.errors import NotFoundError
from corpus_registry.registry.db.models import Decision, Document, IngestRun, Source, Withdrawal
from corpus_registry.registry.licences import Tier
from corpus_registry.registry.registry import Registry

T = TypeVar("T")
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next`` is the cursor of the following page (None on the last)."""

    items: list[T]
    next: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Items as flat dicts (not :func:`dataclasses.asdict`: its deep copies cost more than the query)."""
        return {"items": [_flat(i) for i in self.items], "next": self.next}


def _flat(item: Any) -> Any:
    names = getattr(type(item), "__dataclass_fields__", None)
    return {name: getattr(item, name) for name in names} if names else item


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """What a list shows of a current document."""

    source: str
    identifier: str
    title: str | None
    creator: str | None
    language: str
    license: str
    license_tier: str
    status: str
    word_count: int
    date: str | None
    review: str | None = field(default=None)


ROW_COLUMNS = (Source.slug, Document.identifier, Document.title, Document.creator, Document.language,
               Document.license, Document.license_tier, Document.status, Document.word_count, Document.date,
               Document.review)


def row_of(r: Any) -> DocumentRow:
    return DocumentRow(*r)


class DocumentQuery(BaseModel):
    """Filters of a document list (CLI options, web query parameters and the JSON API alike)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str | None = Field(None, max_length=128)
    language: str | None = Field(None, max_length=16)
    license_tier: Tier | None = None
    license: str | None = Field(None, max_length=512)
    status: str | None = Field(None, pattern=r"^(active|withdrawn)$")
    after: str | None = Field(None, max_length=1024, description="cursor: the `next` of the previous page")
    limit: int = Field(50, ge=1, le=MAX_PAGE)

    @model_validator(mode="after")
    def _cursor_fits(self) -> DocumentQuery:
        if self.after is not None and not self.source and not (self.after.isdigit() and len(self.after) < 19):
            raise ValueError("after: not a cursor of this list (use the `next` of the previous page)")
        return self

    def filters(self) -> dict[str, Any]:
        """The filters set, without paging (for links to the next page)."""
        return {k: (v.value if isinstance(v, Tier) else v)
                for k, v in self.model_dump(exclude={"after", "limit"}).items() if v not in (None, "")}


def source_id(registry: Registry, slug: str) -> int:
    with registry.session() as s:
        found = s.scalar(select(Source.id).where(Source.slug == slug))
    if found is None:
        raise NotFoundError(f"no source {slug!r} in the registry",
                            hint="run `corpus-registry sources list` to see registered sources")
    return found


def list_documents(registry: Registry, query: DocumentQuery) -> Page[DocumentRow]:
    """Current documents matching ``query``, one page after ``query.after``."""
    q: Any = (select(Document.id, *ROW_COLUMNS).join(Source, Source.id == Document.source_id)
                      .where(Document.is_current.is_(True)))
    if query.language:
        q = q.where(Document.language == query.language)
    if query.license_tier:
        q = q.where(Document.license_tier == query.license_tier.value)
    if query.license:
        q = q.where(Document.license == query.license)
    if query.status:
        q = q.where(Document.status == query.status)
    if query.source:
        q = q.where(Document.source_id == source_id(registry, query.source)).order_by(Document.identifier)
        if query.after is not None:
            q = q.where(Document.identifier > query.after)
    else:
        q = q.order_by(Document.id)
        if query.after is not None:
            q = q.where(Document.id > int(query.after))
    with registry.session() as s:
        rows = s.execute(q.limit(query.limit + 1)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    items = [row_of(r[1:]) for r in rows]
    cursor = None
    if more:
        cursor = items[-1].identifier if query.source else str(rows[-1][0])
    return Page(items, cursor)


@dataclass(frozen=True, slots=True, order=True)
class FacetRow:
    """Current, active documents and words of one source in one language and licence."""

    source: str
    language: str
    license: str
    license_tier: str
    documents: int
    words: int


def facet_rows(registry: Registry) -> list[FacetRow]:
    """Counts per (source, language, licence): one scan of the documents, meant to be cached by
    callers until :func:`fingerprint` changes."""
    keys = (Source.slug, Document.language, Document.license, Document.license_tier)
    q = (select(*keys, func.count(), func.coalesce(func.sum(Document.word_count), 0))
         .join(Source, Source.id == Document.source_id)
         .where(Document.is_current.is_(True), Document.status == "active")
         .group_by(*keys))
    with registry.session() as s:
        return sorted(FacetRow(slug, lang, lic, tier, int(n), int(w)) for slug, lang, lic, tier, n, w in s.execute(q))


def fingerprint(registry: Registry) -> tuple[Any, ...]:
    """A cheap value that changes whenever counts may have changed: new documents or ingest runs,
    withdrawals, licence decisions, re-synced sources (index look-ups only)."""
    with registry.session() as s:
        return (s.scalar(select(func.max(Document.id))), s.scalar(select(func.max(IngestRun.id))),
                s.scalar(select(func.count(Withdrawal.id))), s.scalar(select(func.max(Source.updated_at))),
                s.scalar(select(func.count(Source.id))), s.scalar(select(func.max(Decision.id))))


@dataclass(frozen=True, slots=True)
class SourceSummary:
    slug: str
    name: str
    collection: str
    license: str
    license_tier: str
    status: str
    review: str | None


def list_source_summaries(registry: Registry) -> list[SourceSummary]:
    with registry.session() as s:
        return [SourceSummary(*r) for r in s.execute(
            select(Source.slug, Source.name, Source.collection, Source.license, Source.license_tier,
                   Source.status, Source.review).order_by(Source.slug))]


def source_record(registry: Registry, slug: str) -> dict[str, Any]:
    """A source's provenance: licence, attribution, evidence, its ingest runs and withdrawals."""
    with registry.session() as s:
        src = s.scalar(select(Source).where(Source.slug == slug))
        if src is None:
            raise NotFoundError(f"no source {slug!r} in the registry",
                                hint="see the list of sources")
        runs = s.scalars(select(IngestRun).where(IngestRun.source_id == src.id)
                         .order_by(IngestRun.id.desc()).limit(50)).all()
        withdrawals = s.execute(select(Withdrawal.document_identifier, Withdrawal.reason, Withdrawal.created_at)
                                .where(Withdrawal.source_id == src.id).order_by(Withdrawal.id)).all()
    return {
        "slug": src.slug, "name": src.name, "collection": src.collection, "origin_url": src.origin_url,
        "license": src.license, "license_tier": src.license_tier, "review": src.review,
        "attribution": src.attribution, "rights_holder": src.rights_holder, "retrieved": src.retrieved,
        "reader": {"kind": src.reader_kind, **(src.reader_options or {})}, "overrides": src.overrides or {},
        "status": src.status, "registered": iso(src.created_at), "updated": iso(src.updated_at),
        "ingest_runs": [{"id": r.id, "started": iso(r.started_at), "finished": iso(r.finished_at),
                         "status": r.status, "seen": r.seen, "added": r.added, "updated": r.updated,
                         "unchanged": r.unchanged, "bytes": r.bytes, "workers": r.workers} for r in runs],
        "withdrawals": [{"identifier": ident, "reason": reason, "date": iso(when)}
                        for ident, reason, when in withdrawals],
    }


def iso(value: dt.datetime | None) -> str | None:
    """A timestamp as pages and JSON show it (to the second)."""
    return value.isoformat(timespec="seconds") if value else None
