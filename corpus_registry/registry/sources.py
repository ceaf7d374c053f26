"""Register sources: upsert the validated catalogue into the registry, list what is registered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from corpus_registry.errors import ConfigError, CorpusRegistryError
from corpus_registry.registry import licences
from corpus_registry.registry.catalogue import Catalogue, SourceSpec, load_catalogue
from corpus_registry.registry.db.models import Document, Source
from corpus_registry.registry.readers import get_reader
from corpus_registry.registry.registry import Registry


@dataclass(frozen=True, slots=True)
class SyncResult:
    added: list[str]
    updated: list[str]
    unchanged: list[str]


def _fields(spec: SourceSpec, base_dir: Path) -> dict[str, object]:
    info = licences.parse(spec.license)
    tier = licences.Tier.REVIEW if spec.review and info.tier.open else info.tier
    return {
        "name": spec.name,
        "collection": spec.collection.value,
        "origin_url": spec.origin_url,
        "license": info.expression,
        "license_tier": tier.value,
        "review": spec.review,
        "attribution": spec.attribution,
        "rights_holder": spec.rights_holder,
        "retrieved": spec.retrieved.isoformat() if spec.retrieved else None,
        "reader_kind": spec.reader.kind,
        "reader_options": spec.reader.options,
        "overrides": {k: v.model_dump(exclude_none=True) for k, v in spec.documents.items()},
        "base_dir": str(base_dir.resolve()),
    }


def sync_sources(registry: Registry, *, catalogue_path: Path) -> SyncResult:
    """Validate ``sources.yaml`` completely, then upsert every source in one transaction."""
    catalogue: Catalogue = load_catalogue(catalogue_path)
    base_dir = catalogue_path.parent
    for spec in catalogue.sources:  # reader options are checked before anything is written
        try:
            get_reader(spec.reader.kind, base_dir=base_dir, options=spec.reader.options)
        except CorpusRegistryError as e:
            raise ConfigError(
                f"{catalogue_path}: sources[{spec.slug}].reader: {e}", file=str(catalogue_path),
                field=f"sources[{spec.slug}].reader",
            ) from e
    added, updated, unchanged = [], [], []
    with registry.session() as s:
        existing = {src.slug: src for src in s.scalars(select(Source))}
        for spec in catalogue.sources:
            values = _fields(spec, base_dir)
            src = existing.get(spec.slug)
            if src is None:
                s.add(Source(slug=spec.slug, **values))
                added.append(spec.slug)
            elif any(getattr(src, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(src, k, v)
                updated.append(spec.slug)
            else:
                unchanged.append(spec.slug)
    return SyncResult(added=added, updated=updated, unchanged=unchanged)


@dataclass(frozen=True, slots=True)
class SourceRow:
    slug: str
    name: str
    collection: str
    license: str
    license_tier: str
    review: str | None
    reader_kind: str
    documents: int


def list_sources(registry: Registry) -> list[SourceRow]:
    with registry.session() as s:
        counts = dict(
            s.execute(
                select(Document.source_id, func.count())
                .where(Document.is_current.is_(True))
                .group_by(Document.source_id)
            ).all()
        )
        return [
            SourceRow(
                slug=src.slug, name=src.name, collection=src.collection, license=src.license,
                license_tier=src.license_tier, review=src.review, reader_kind=src.reader_kind,
                documents=counts.get(src.id, 0),
            )
            for src in s.scalars(select(Source).order_by(Source.slug))
        ]

