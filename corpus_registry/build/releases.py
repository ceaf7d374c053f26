"""Built releases as the registry remembers them: what each contains, every candidate's fate, the
difference between two versions, and why one document is (or is not) in a release.

Lists are keyset-paginated on the document's row id (the release's fates index), so a page of a
million-document release costs what a page of a small one does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from corpus_registry.build.release import MANIFEST
from corpus_registry.errors import NotFoundError
from corpus_registry.registry.browse import Page, iso
from corpus_registry.registry.db.models import Document, Release, ReleaseDocument, Source
from corpus_registry.registry.registry import Registry


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    name: str
    version: str
    built: str
    candidates: int
    kept: int
    kept_words: int
    registry_state: str
    hub_repo: str | None
    hub_tag: str | None
    hub_commit: str | None
    pushed: str | None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def _row(r: Release) -> ReleaseRow:
    counts = r.counts or {}
    return ReleaseRow(name=r.name, version=r.version, built=iso(r.created_at) or "",
                      candidates=int(counts.get("candidates", 0)), kept=int(counts.get("kept", 0)),
                      kept_words=int(counts.get("kept_words", 0)), registry_state=r.registry_state,
                      hub_repo=r.hub_repo, hub_tag=r.hub_tag, hub_commit=r.hub_commit, pushed=iso(r.pushed_at))


def version_key(version: str) -> tuple[int, Any]:
    """Versions in release order: PEP 440 / semantic versions by value, anything else after, by text."""
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def list_releases(registry: Registry) -> list[ReleaseRow]:
    """Every built release, by name then version."""
    with registry.session() as s:
        rows = [_row(r) for r in s.scalars(select(Release))]
    return sorted(rows, key=lambda r: (r.name, version_key(r.version)))


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME@VERSION`` → (name, version)."""
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise NotFoundError(f"{ref!r} is not a release reference", hint="write NAME@VERSION (see `releases list`)")
    return name, version


def _release(registry: Registry, name: str, version: str) -> Release:
    with registry.session() as s:
        rel = s.scalar(select(Release).where(Release.name == name, Release.version == version))
    if rel is None:
        raise NotFoundError(f"no release {name}@{version} in the registry",
                            hint="run `corpus-registry releases list` to see the built releases")
    return rel


def previous_version(registry: Registry, name: str, version: str) -> str | None:
    """The version of release ``name`` just before ``version`` (None for the first)."""
    with registry.session() as s:
        versions = list(s.scalars(select(Release.version).where(Release.name == name)))
    earlier = sorted((v for v in versions if version_key(v) < version_key(version)), key=version_key)
    return earlier[-1] if earlier else None


def release_summary(registry: Registry, name: str, version: str, *,
                    license_mix: Callable[[], tuple[list[dict[str, Any]], str]] | None = None) -> dict[str, Any]:
    """A release's record: counts, funnel, licence mix, where it was pushed, its previous version.

    ``license_mix`` may supply the mix (a caller that keeps it: recounting it reads every kept document)."""
    rel = _release(registry, name, version)
    counts = rel.counts or {}
    mix, mix_from = license_mix() if license_mix is not None else _license_mix(registry, rel)
    return {
        **asdict(_row(rel)),
        "spec": rel.spec, "executor": rel.executor, "out_dir": rel.out_dir,
        "manifest_sha256": rel.manifest_sha256, "shards": rel.shards,
        "funnel": counts.get("funnel", []), "license_mix": mix, "license_mix_from": mix_from,
        "previous_version": previous_version(registry, name, version),
    }


def license_mix(registry: Registry, name: str, version: str) -> tuple[list[dict[str, Any]], str]:
    """See :func:`_license_mix`."""
    return _license_mix(registry, _release(registry, name, version))


def _license_mix(registry: Registry, rel: Release) -> tuple[list[dict[str, Any]], str]:
    """The licence mix the release shipped: from its manifest when the release folder is still there
    and unchanged, else recomputed from the registry's current licences of its kept documents."""
    if rel.out_dir and rel.manifest_sha256:
        path = Path(rel.out_dir) / MANIFEST
        try:
            raw = path.read_bytes()
        except OSError:
            raw = b""
        if raw and hashlib.sha256(raw).hexdigest() == rel.manifest_sha256:
            try:
                return list(json.loads(raw)["license_mix"]), "manifest"
            except (ValueError, KeyError, TypeError):
                pass
    q = (select(Document.license, Document.license_tier, func.count(), func.coalesce(func.sum(Document.word_count), 0))
         .join(ReleaseDocument, ReleaseDocument.document_id == Document.id)
         .where(ReleaseDocument.release_id == rel.id, ReleaseDocument.status == "kept")
         .group_by(Document.license, Document.license_tier).order_by(Document.license))
    with registry.session() as s:
        rows = s.execute(q).all()
    return [{"license": lic, "tier": tier, "documents": int(n), "words": int(w)} for lic, tier, n, w in rows], "registry"


class FateQuery(BaseModel):
    """Filters of a release's per-document fates."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: str | None = Field(None, pattern=r"^(kept|dropped)$")
    stage: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=256)
    language: str | None = Field(None, max_length=16)
    source: str | None = Field(None, max_length=128)
    after: int | None = Field(None, ge=0, description="cursor: the `next` of the previous page")
    limit: int = Field(50, ge=1, le=500)

    def filters(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"after", "limit"}).items() if v not in (None, "")}


@dataclass(frozen=True, slots=True)
class Fate:
    """One document's fate in one release."""

    release: str
    version: str
    source: str
    identifier: str
    document_version: int
    language: str
    license: str
    status: str
    stage: str | None
    reason: str | None
    duplicate_of: dict[str, Any] | None
    similarity: float | None
    title: str | None = None


_Dup = aliased(Document)
_DupSource = aliased(Source)
_FATE_COLUMNS = (ReleaseDocument.document_id, Release.name, Release.version, Source.slug, Document.identifier,
                 Document.version, Document.language, Document.license, ReleaseDocument.status,
                 ReleaseDocument.stage, ReleaseDocument.reason, _DupSource.slug, _Dup.identifier, _Dup.version,
                 ReleaseDocument.similarity, Document.title)


def _fates_select() -> Any:
    return (select(*_FATE_COLUMNS)
            .select_from(ReleaseDocument)
            .join(Release, Release.id == ReleaseDocument.release_id)
            .join(Document, Document.id == ReleaseDocument.document_id)
            .join(Source, Source.id == Document.source_id)
            .outerjoin(_Dup, _Dup.id == ReleaseDocument.duplicate_of)
            .outerjoin(_DupSource, _DupSource.id == _Dup.source_id))


def _fate(r: Any) -> Fate:
    (_id, name, version, slug, ident, doc_version, lang, lic, status, stage, reason, dup_slug, dup_ident,
     dup_version, similarity, title) = r
    dup = {"source": dup_slug, "identifier": dup_ident, "version": dup_version} if dup_slug else None
    return Fate(name, version, slug, ident, doc_version, lang, lic, status, stage, reason, dup,
                None if similarity is None else round(float(similarity), 4), title)


def release_fates(registry: Registry, name: str, version: str, query: FateQuery) -> Page[Fate]:
    """The fates of a release's candidates matching ``query``, one page after ``query.after``."""
    rel = _release(registry, name, version)
    q = _fates_select().where(ReleaseDocument.release_id == rel.id)
    for column, value in ((ReleaseDocument.status, query.status), (ReleaseDocument.stage, query.stage),
                          (ReleaseDocument.reason, query.reason), (Document.language, query.language),
                          (Source.slug, query.source)):
        if value:
            q = q.where(column == value)
    if query.after is not None:  # said of both sides of the join, so that a merge join starts there too
        q = q.where(ReleaseDocument.document_id > query.after, Document.id > query.after)
    with registry.session() as s:
        rows = s.execute(q.order_by(ReleaseDocument.document_id).limit(query.limit + 1)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return Page([_fate(r) for r in rows], str(rows[-1][0]) if more else None)


def document_fates(registry: Registry, *, source: str, identifier: str,
                   release: tuple[str, str] | None = None) -> list[Fate]:
    """The fate of every version of one document in every release (or one), oldest release first."""
    q = _fates_select().where(Source.slug == source, Document.identifier == identifier)
    if release is not None:
        rel = _release(registry, *release)
        q = q.where(ReleaseDocument.release_id == rel.id)
    with registry.session() as s:
        rows = s.execute(q.order_by(Release.created_at, Release.id)).all()
    return [_fate(r) for r in rows]


def releases_containing(registry: Registry, *, source: str, identifier: str | None = None) -> list[ReleaseRow]:
    """The built releases that kept the document (any version), or any document of the source."""
    q = (select(Release).where(exists(
        select(ReleaseDocument.document_id).join(Document, Document.id == ReleaseDocument.document_id)
        .join(Source, Source.id == Document.source_id)
        .where(ReleaseDocument.release_id == Release.id, ReleaseDocument.status == "kept", Source.slug == source,
               *([Document.identifier == identifier] if identifier is not None else [])))))
    with registry.session() as s:
        rows = [_row(r) for r in s.scalars(q)]
    return sorted(rows, key=lambda r: (r.name, version_key(r.version)))


@dataclass(frozen=True, slots=True)
class Change:
    """A document that entered (``added``) or left (``removed``) a release between two versions, and
    why: its fate in the version where it is not kept (None: it was not a candidate there)."""

    source: str
    identifier: str
    title: str | None
    change: str
    other_status: str | None
    other_stage: str | None
    other_reason: str | None


def diff_releases(registry: Registry, name: str, version: str, *, against: str | None = None,
                  change: str = "added", after: int | None = None, limit: int = 50) -> dict[str, Any]:
    """Documents kept in ``version`` but not in ``against`` (``change="added"``) or the reverse
    (``"removed"``), matched by source and identifier; ``against`` defaults to the previous version."""
    if change not in ("added", "removed"):
        raise ValueError("change must be 'added' or 'removed'")
    new = _release(registry, name, version)
    against = against or previous_version(registry, name, version)
    if against is None:
        return {"release": name, "version": version, "against": None, "change": change,
                "page": Page([], None).as_dict()}
    old = _release(registry, name, against)
    here, there = (new, old) if change == "added" else (old, new)
    other = aliased(ReleaseDocument)
    other_doc = aliased(Document)
    kept_there = exists(
        select(other.document_id).join(other_doc, other_doc.id == other.document_id)
        .where(other.release_id == there.id, other.status == "kept", other_doc.source_id == Document.source_id,
               other_doc.identifier == Document.identifier))
    q = (select(ReleaseDocument.document_id, Source.slug, Document.identifier, Document.title, Document.source_id)
         .join(Document, Document.id == ReleaseDocument.document_id)
         .join(Source, Source.id == Document.source_id)
         .where(ReleaseDocument.release_id == here.id, ReleaseDocument.status == "kept", ~kept_there))
    if after is not None:
        q = q.where(ReleaseDocument.document_id > after, Document.id > after)
    with registry.session() as s:
        rows = s.execute(q.order_by(ReleaseDocument.document_id).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        why: dict[tuple[int, str], tuple[str, str | None, str | None]] = {}
        if rows:
            keys = [(r[4], r[2]) for r in rows]
            for sid, ident, status, stage, reason in s.execute(
                select(Document.source_id, Document.identifier, ReleaseDocument.status, ReleaseDocument.stage,
                       ReleaseDocument.reason)
                .join(ReleaseDocument, ReleaseDocument.document_id == Document.id)
                .where(ReleaseDocument.release_id == there.id,
                       Document.source_id.in_({k[0] for k in keys}), Document.identifier.in_({k[1] for k in keys}))):
                why[(sid, ident)] = (status, stage, reason)
    items = [Change(slug, ident, title, change, *why.get((sid, ident), (None, None, None)))
             for _id, slug, ident, title, sid in rows]
    return {"release": name, "version": version, "against": against, "change": change,
            "page": Page(items, str(rows[-1][0]) if more else None).as_dict()}


def diff_counts(registry: Registry, name: str, version: str, *, against: str | None = None) -> dict[str, Any]:
    """How many documents were added and removed, grouped by their fate on the other side (a release
    has one candidate per source and identifier, so documents are matched on those)."""
    against = against or previous_version(registry, name, version)
    out: dict[str, Any] = {"release": name, "version": version, "against": against}
    if against is None:
        return out
    new, old = _release(registry, name, version), _release(registry, name, against)

    def members(release_id: int, *, kept: bool) -> Any:
        q = (select(Document.source_id, Document.identifier, ReleaseDocument.status, ReleaseDocument.stage,
                    ReleaseDocument.reason)
             .join(Document, Document.id == ReleaseDocument.document_id)
             .where(ReleaseDocument.release_id == release_id))
        return (q.where(ReleaseDocument.status == "kept") if kept else q).subquery()

    for change, here_id, there_id in (("added", new.id, old.id), ("removed", old.id, new.id)):
        here, there = members(here_id, kept=True), members(there_id, kept=False)
        q = (select(there.c.status, there.c.stage, there.c.reason, func.count())
             .select_from(here)
             .outerjoin(there, and_(there.c.source_id == here.c.source_id, there.c.identifier == here.c.identifier))
             .where((there.c.status.is_(None)) | (there.c.status != "kept"))
             .group_by(there.c.status, there.c.stage, there.c.reason))
        with registry.session() as s:
            groups = s.execute(q).all()
        out[change] = {
            "documents": sum(int(n) for *_, n in groups),
            "why": sorted(({"status": st, "stage": stage, "reason": reason, "documents": int(n)}
                           for st, stage, reason, n in groups), key=lambda g: -g["documents"]),
        }
    return out

